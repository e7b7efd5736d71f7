from __future__ import annotations

import pytest

from slipway.domain.errors import Invalid
from slipway.domain.giturls import NO_LOCAL, LocalRepos, check_git_url

REMOTE = [
    "https://github.com/org/repo.git",
    "http://git.example.com:8080/a/b",
    "ssh://git@example.com/org/repo.git",
    "git@github.com:org/repo.git",
]


@pytest.mark.parametrize("url", REMOTE)
def test_remote_urls_accepted_everywhere(url: str) -> None:
    assert check_git_url("gitUrl", url, local=NO_LOCAL) == url


@pytest.mark.parametrize("url", ["/srv/repos/app", "file:///srv/repos/app"])
def test_local_urls_only_when_allowed(url: str) -> None:
    assert check_git_url("gitUrl", url, local=LocalRepos(anywhere=True)) == url
    with pytest.raises(Invalid, match="local"):
        check_git_url("gitUrl", url, local=NO_LOCAL)


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "--upload-pack=touch /tmp/x",
        "-oProxyCommand=id",
        "https://example.com/a\nb",
        "https://exa mple.com/",
        "ftp://example.com/repo",
        "file:///srv/../etc",
        "/srv/../../etc",
        "https://example.com/" + "a" * 2000,
        "",
    ],
)
def test_hostile_urls_rejected_even_when_local_is_allowed(url: str) -> None:
    with pytest.raises(Invalid):
        check_git_url("gitUrl", url, local=LocalRepos(anywhere=True))
