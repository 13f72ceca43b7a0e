"""`latentforge chapter`: the whole of Hands-On ML ch. 17 in one command (sections.py lists
what runs, runner.py runs it, page.py writes the report)."""
from latentforge.chapter.runner import SectionResult, run_chapter
from latentforge.chapter.sections import PROFILES, SECTIONS, Section

__all__ = ["PROFILES", "SECTIONS", "Section", "SectionResult", "run_chapter"]
