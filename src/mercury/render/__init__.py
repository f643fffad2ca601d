"""`mercury render`: platform.yaml -> the generated kustomize overlays under apps/."""

from mercury.render.repo import RenderReport, plan, render_repo

__all__ = ["RenderReport", "plan", "render_repo"]
