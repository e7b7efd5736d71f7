"""Ruby (nixpacks' `providers/ruby.rs`): a Gemfile.

Install is `bundle install`; Rails apps precompile assets when they have an asset pipeline.
Start: Rails → `bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}` (or `bin/rails`),
a config.ru → `bundle exec rackup config.ru -p ${PORT:-3000}`, else `bundle exec ruby
<app.rb|main.rb>` when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, has, present, read_text


class RubyProvider:
    name = "ruby"
    title = "Ruby"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "Gemfile")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        rails = has(app_dir, "config/application.rb") and "rails" in read_text(app_dir / "Gemfile")
        assets = rails and (app_dir / "app" / "assets").is_dir()
        return ProviderPlan(
            packages=["ruby", "bundler"],
            install=["bundle install"],
            build=["bundle exec rake assets:precompile"] if assets else [],
            start=self._start(app_dir, rails=rails),
            variables={
                "BUNDLE_PATH": "/app/vendor/bundle",
                "BUNDLE_WITHOUT": "development:test",
                "RAILS_ENV": "production",
            },
            install_cache=["/root/.bundle/cache"],
            install_inputs=present(app_dir, ("Gemfile", "Gemfile.lock", ".ruby-version")),
            metadata=["rails"] if rails else [],
        )

    @staticmethod
    def _start(app_dir: Path, *, rails: bool) -> str | None:
        if rails:
            rails_bin = "rails" if has(app_dir, "rails") else "bin/rails"
            return f"bundle exec {rails_bin} server -b 0.0.0.0 -p ${{PORT:-3000}}"
        if has(app_dir, "config.ru"):
            return "bundle exec rackup config.ru -p ${PORT:-3000}"
        for script in ("app.rb", "main.rb"):
            if has(app_dir, script):
                return f"bundle exec ruby {script}"
        return None
