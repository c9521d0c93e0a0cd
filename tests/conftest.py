from __future__ import annotations

from pathlib import Path

import pytest

from npc_ai.dialogue.persona import Persona, load_persona

ROOT = Path(__file__).resolve().parents[1]
PERSONAS = ROOT / "sample_game" / "personas"


@pytest.fixture
def blacksmith() -> Persona:
    return load_persona(PERSONAS / "blacksmith.toml")


@pytest.fixture
def guard() -> Persona:
    return load_persona(PERSONAS / "guard.toml")
