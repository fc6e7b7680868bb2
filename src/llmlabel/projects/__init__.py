"""Projects: a team's task type, model profile and immutable guideline/prompt versions.

`service.Projects` holds the use cases (create, push, diff, activate, roll back,
resolve a batch's versions), `labelers.LabelerFactory` turns a work item into a
labeler from the store, `content.VersionCache` keeps parsed versions by hash,
`task_cache.TaskCache` the task objects a report or scoring pass needs.
"""

from __future__ import annotations

from llmlabel.projects.content import VersionCache
from llmlabel.projects.labelers import LabelerFactory, VersionPin
from llmlabel.projects.service import Added, Diff, Projects, Resolved

__all__ = ["Added", "Diff", "LabelerFactory", "Projects", "Resolved", "VersionCache", "VersionPin"]
