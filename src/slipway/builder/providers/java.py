"""Java (nixpacks' `providers/java.rs`): Maven (pom.*) or Gradle (gradlew).

Maven builds with `mvn -DoutputFile=target/mvn-dependency-list.log -B -DskipTests clean
dependency:list install` (`./mvnw` when the wrapper is there) and starts `java $JAVA_OPTS
-jar target/*jar` (with `-Dserver.port=$PORT` for Spring Boot). Gradle builds with
`./gradlew clean build -x check -x test` and starts the non-plain jar of build/libs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, has, read_text

_POMS = ("pom.xml", "pom.atom", "pom.clj", "pom.groovy", "pom.rb", "pom.scala", "pom.yaml")
_MVN = "-DoutputFile=target/mvn-dependency-list.log -B -DskipTests clean dependency:list install"


def _port_flag(text: str) -> str:
    if "<groupId>org.wildfly.swarm" in text:
        return "-Dswarm.http.port=$PORT"
    if "<groupId>org.springframework.boot" in text and "<artifactId>spring-boot" in text:
        return "-Dserver.port=$PORT"
    return ""


class JavaProvider:
    name = "java"
    title = "Java"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, *_POMS, "pom.yml", "gradlew")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        if has(app_dir, "gradlew"):
            wrapper = has(app_dir, "gradle/wrapper/gradle-wrapper.properties")
            gradle = "./gradlew" if wrapper else "gradle"
            build = [f"{gradle} clean build -x check -x test"]
            if not (app_dir / "gradlew").stat().st_mode & 0o111:
                build.insert(0, "chmod +x gradlew")
            flag = "-Dserver.port=$PORT" if _spring_gradle(_gradle_text(app_dir)) else ""
            # nixpacks' command, down to its two spaces when there is no port flag
            start = f"java $JAVA_OPTS -jar {flag} $(ls -1 build/libs/*jar | grep -v plain)"
            return ProviderPlan(
                packages=["jdk17", "gradle"],
                build=build,
                start=start,
                build_cache=["/root/.gradle"],
            )
        wrapper = has(app_dir, "mvnw") and has(app_dir, ".mvn/wrapper/maven-wrapper.properties")
        mvn = "chmod +x ./mvnw && ./mvnw" if wrapper else "mvn"
        flag = _port_flag(read_text(app_dir / "pom.xml"))
        start = f"java {flag} $JAVA_OPTS -jar target/*jar" if has(app_dir, "pom.xml") else ""
        return ProviderPlan(
            packages=["jdk17", "maven"],
            build=[f"{mvn} {_MVN}"],
            start=start or "java $JAVA_OPTS -jar target/*jar",
            build_cache=[".m2/repository"],
        )


def _spring_gradle(text: str) -> bool:
    """Spring Boot (or Grails) in a Gradle build, by nixpacks' markers."""
    markers = ("org.springframework.boot", "spring-boot-gradle-plugin", "org.grails:grails-")
    return any(m in text for m in markers)


def _gradle_text(app_dir: Path) -> str:
    return read_text(app_dir / "build.gradle") + read_text(app_dir / "build.gradle.kts")
