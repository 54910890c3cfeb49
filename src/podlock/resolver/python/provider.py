"""The resolvelib provider. It only delegates:
the factory owns index access (pages, metadata, which candidates exist);
requirement and candidate classes own matching (``is_satisfied_by``, identifiers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from resolvelib.providers import AbstractProvider
from resolvelib.structs import RequirementInformation

from podlock.resolver.python.candidates import AnyCandidate
from podlock.resolver.python.factory import Factory
from podlock.resolver.python.requirements import AnyRequirement

Preference = tuple[bool, bool, bool, str]


class PythonProvider(AbstractProvider[AnyRequirement, AnyCandidate, str]):
    def __init__(self, factory: Factory) -> None:
        self.factory = factory

    def identify(self, requirement_or_candidate: AnyRequirement | AnyCandidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, AnyCandidate],
        candidates: Mapping[str, Iterator[AnyCandidate]],
        information: Mapping[str, Iterator[RequirementInformation[AnyRequirement, AnyCandidate]]],
        backtrack_causes: Sequence[RequirementInformation[AnyRequirement, AnyCandidate]],
    ) -> Preference:
        """(not a backtrack cause, not pinned with ==, not asked for by the user, identifier).

        Causes of the last conflict first (they decide fastest), then pins (one candidate),
        then direct requirements; the identifier makes the order total, so the same inputs
        always resolve the same way.
        """
        infos = list(information.get(identifier, ()))
        causes = {c.requirement.identifier for c in backtrack_causes} | {
            c.parent.identifier for c in backtrack_causes if c.parent is not None
        }
        pinned = any(i.requirement.pinned for i in infos)
        direct = any(i.parent is None for i in infos)
        return (identifier not in causes, not pinned, not direct, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[AnyRequirement]],
        incompatibilities: Mapping[str, Iterator[AnyCandidate]],
    ) -> Iterable[AnyCandidate]:
        return self.factory.find_matches(
            identifier,
            list(requirements.get(identifier, ())),
            list(incompatibilities.get(identifier, ())),
        )

    def is_satisfied_by(self, requirement: AnyRequirement, candidate: AnyCandidate) -> bool:
        return requirement.is_satisfied_by(candidate)

    def get_dependencies(self, candidate: AnyCandidate) -> Iterable[AnyRequirement]:
        return self.factory.dependencies(candidate)
