"""Loads the Lua transition scripts (one file each, ``name-KEYCOUNT.lua``).

A line ``--- @include "x"`` is replaced by ``lua/includes/x.lua``, so helpers
are shared in source while each script stays self-contained in Redis.
Scripts are registered once per client and called by SHA.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import attrs
import coredis
from coredis.commands.script import Script
from coredis.exceptions import NoScriptError

_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)
_NAME = re.compile(r"^(?P<name>[a-z_]+)-(?P<keys>\d+)\.lua$")


def _lua_dir() -> Any:
    return resources.files("boltq").joinpath("lua")


def script_source(filename: str) -> str:
    """The text of one script with its includes expanded."""
    lua = _lua_dir()
    text = lua.joinpath(filename).read_text()
    return _INCLUDE.sub(lambda m: lua.joinpath("includes", f"{m[1]}.lua").read_text(), text)


@attrs.frozen
class TransitionScript:
    """One registered script and the number of keys it declares."""

    name: str
    key_count: int
    script: Script[str]

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA straight on the client, skipping the retry and transform
        layers ``Script.__call__`` builds per call: on the job path they cost
        about a tenth of a single call's client time.

        A Redis that lost its scripts (restarted, or SCRIPT FLUSH) answers
        NOSCRIPT; the script is loaded again and the call made once more.
        """
        if len(keys) != self.key_count:
            raise ValueError(f"{self.name} takes {self.key_count} keys, got {len(keys)}")
        client = self.script.registered_client
        assert client is not None, "scripts are registered on a client"
        try:
            return await client.evalsha(self.script.sha, keys=keys, args=args)
        except NoScriptError:
            await client.script_load(self.script.script)
            return await client.evalsha(self.script.sha, keys=keys, args=args)

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> Any:
        """Add the call to a pipeline; await the result after it executes."""
        if len(keys) != self.key_count:
            raise ValueError(f"{self.name} takes {self.key_count} keys, got {len(keys)}")
        return self.script(keys=keys, args=args, client=pipe)


def load_scripts(client: coredis.Redis[str]) -> dict[str, TransitionScript]:
    """Every transition script, by name, bound to ``client``."""
    found: dict[str, TransitionScript] = {}
    for entry in _lua_dir().iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        script = client.register_script(script_source(entry.name))
        found[match["name"]] = TransitionScript(match["name"], int(match["keys"]), script)
    return found
