"""Ruby (nixpacks' `providers/ruby.rs`): a Gemfile.

Install is `bundle install` (then `bundle exec bootsnap precompile --gemfile` with bootsnap),
followed by the Node install when there is a package.json (or execjs needs Node). A Rails
app (`Rails::Application` in config/application.rb) precompiles its assets when it has an
asset pipeline (sprockets, propshaft) and its code with bootsnap.
Start, as nixpacks: Rails → `bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}` (with
`bin/rails … -e $RAILS_ENV` when there is no `rails` script), an old Rails layout →
`script/server`, a config.ru → `bundle exec rackup config.ru -p ${PORT:-3000}`, a Rakefile →
`bundle exec rake`; beyond nixpacks, `bundle exec ruby <app.rb|main.rb>`. The last two are
guesses, and the plan's notes say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers import node
from slipway.builder.providers.base import ProviderPlan, has, present, read_json, read_text


def uses_gem(app_dir: Path, gem: str) -> bool:
    """nixpacks' test: the name appears in the Gemfile or Gemfile.lock."""
    return any(gem in read_text(app_dir / f) for f in ("Gemfile", "Gemfile.lock"))


class RubyProvider:
    name = "ruby"
    title = "Ruby"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "Gemfile")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        rails = "Rails::Application" in read_text(app_dir / "config" / "application.rb")
        bootsnap = uses_gem(app_dir, "bootsnap")
        install = ["bundle install"]
        if bootsnap:
            install.append("bundle exec bootsnap precompile --gemfile")
        build = []
        if rails and (uses_gem(app_dir, "sprockets") or uses_gem(app_dir, "propshaft")):
            build.append("bundle exec rake assets:precompile")
        if rails and bootsnap:
            build.append("bundle exec bootsnap precompile app/ lib/")
        packages = ["ruby", "bundler"]
        caches = ["/root/.bundle/cache"]
        inputs = ["Gemfile", "Gemfile.lock", ".ruby-version"]
        if has(app_dir, "package.json") or uses_gem(app_dir, "execjs"):
            package = read_json(app_dir / "package.json")
            pm = node.package_manager(app_dir, package)
            packages += node.packages_for(pm)
            if has(app_dir, "package.json"):
                install.append(node.install_command(app_dir, pm))
                caches.append(node.CACHE_DIRS[pm])
                inputs += node.INSTALL_INPUTS
        start, guess = self._start(app_dir, rails=rails)
        return ProviderPlan(
            packages=packages,
            install=install,
            build=build,
            start=start,
            guess=guess,
            variables={
                "BUNDLE_PATH": "/app/vendor/bundle",
                "BUNDLE_WITHOUT": "development:test",
                "RAILS_ENV": "production",
            },
            install_cache=caches,
            install_inputs=present(app_dir, tuple(inputs)),
            metadata=["rails"] if rails else [],
        )

    @staticmethod
    def _start(app_dir: Path, *, rails: bool) -> tuple[str | None, str | None]:
        if rails:
            if has(app_dir, "rails"):
                return "bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}", None
            return "bundle exec bin/rails server -b 0.0.0.0 -p ${PORT:-3000} -e $RAILS_ENV", None
        if has(app_dir, "config/environment.rb") and (app_dir / "script").is_dir():
            return "bundle exec ruby script/server -p ${PORT:-3000}", None
        if has(app_dir, "config.ru"):
            return "bundle exec rackup config.ru -p ${PORT:-3000}", None
        if has(app_dir, "Rakefile"):
            return "bundle exec rake", (
                "start command guessed: the Rakefile's default task, as nixpacks does; "
                "add a Procfile to choose"
            )
        for script in ("app.rb", "main.rb"):
            if has(app_dir, script):
                return f"bundle exec ruby {script}", (
                    f"start command guessed: runs {script}; add a Procfile to choose"
                )
        return None, None
