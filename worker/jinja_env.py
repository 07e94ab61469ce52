"""The one set of Jinja2 settings every template goes through: sandboxed, strict, `.html` escaped.

Emails (`worker.mail.render`) and the web console (`worker.web.templating`) both build their
environment here and add their own filters; it lives outside both because neither layer may
import the other.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment


def sandboxed_environment(templates_dir: Path) -> SandboxedEnvironment:
    """A fresh sandboxed environment over `templates_dir`: undefined names are errors, every
    `.html` template escapes what it prints, whitespace stays as the template writes it."""
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
