"""PHP (nixpacks' `providers/php`): a composer.json or an index.php.

Install is `composer install --ignore-platform-reqs` (plus the Node install when there is a
package.json); build is `<pm> run prod|build` when package.json has that script. Start is
PHP's built-in server on `$PORT` with `NIXPACKS_PHP_ROOT_DIR` (nixpacks' switch, e.g.
`/app/public`), else `public/` (Laravel and most frameworks), else the app as document root:
nixpacks runs nginx + php-fpm from its own assets, which this platform does not ship (a
documented difference; an app's nginx.conf or nginx.template.conf is not used either).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers import node
from slipway.builder.providers.base import (
    ProviderPlan,
    app_subdir,
    config_var,
    has,
    present,
    quote,
    read_json,
)
from slipway.domain.errors import DeployFailed


class PhpProvider:
    name = "php"
    title = "PHP"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "composer.json", "index.php")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        install: list[str] = []
        build: list[str] = []
        packages = ["php", "composer"]
        if has(app_dir, "composer.json"):
            install.append("composer install --ignore-platform-reqs")
        if has(app_dir, "package.json"):
            package = read_json(app_dir / "package.json")
            pm = node.package_manager(app_dir, package)
            install.append(node.install_command(app_dir, pm))
            scripts = node.scripts_of(package)
            build = [f"{pm} run {s}" for s in ("prod", "build") if s in scripts][:1]
            packages += ["nodejs_20"]
        root = "public" if (app_dir / "public").is_dir() else "."
        configured = config_var(env, "PHP_ROOT_DIR")
        if configured:
            under_app = configured == "/app" or configured.startswith("/app/")
            inside = app_subdir((configured[4:].lstrip("/") or ".") if under_app else configured)
            if inside is None:
                raise DeployFailed("NIXPACKS_PHP_ROOT_DIR must name a directory of the app.")
            root = inside
        inputs = ("composer.json", "composer.lock", *node.INSTALL_INPUTS)
        return ProviderPlan(
            packages=packages,
            install=install,
            build=build,
            start=f"php -S 0.0.0.0:${{PORT:-80}} -t {quote(root)}",
            install_cache=["/root/.cache/composer"],
            install_inputs=present(app_dir, inputs),
        )
