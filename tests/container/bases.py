"""The base images a Dockerfile's FROM lines name, as the engines and Dependabot read them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.serve.image_layout import instructions


@dataclass(frozen=True)
class Stage:
    """One FROM: its image (None when it builds on an earlier stage) and its name, if any."""

    image: str | None
    name: str | None


def stages(dockerfile: str) -> list[Stage]:
    """Each FROM's image and stage name; flags (`--platform=...`) are skipped, and an image
    that names an earlier stage (case-insensitively, as the engines compare) is no base."""
    found: list[Stage] = []
    for keyword, arguments in instructions(dockerfile):
        if keyword != "FROM":
            continue
        words = [word for word in arguments.split() if not word.startswith("--")]
        named = len(words) >= 3 and words[1].upper() == "AS"
        earlier = {stage.name for stage in found if stage.name}
        image = words[0] if words and words[0].lower() not in earlier else None
        found.append(Stage(image, words[2].lower() if named else None))
    return found


def base_images(dockerfile: str) -> list[str]:
    """The images the build pulls, in FROM order."""
    return [stage.image for stage in stages(dockerfile) if stage.image]
