#!/usr/bin/python3
"""Prints the accessibility tree that a screen reader on Linux reads from one program,
through AT-SPI, as JSON: one object per node, with its depth, role, name, states and
attributes. It waits until the program's web content is in the tree and holds WANTED.

    /usr/bin/python3 atspi_tree.py PID WANTED [TIMEOUT_SECONDS]

Run inside the same D-Bus session as the program (dbus-run-session). Debian's
python3-pyatspi gives pyatspi to /usr/bin/python3.
"""

import json
import sys
import time

import pyatspi

STATES = {"selected", "selectable", "focusable", "focused", "pressed", "checked", "editable",
          "multi line", "single line", "active", "showing"}


def find_app(pid):
    for app in pyatspi.Registry.getDesktop(0):
        if app is not None and app.get_process_id() == pid:
            return app
    return None


def walk(node, depth, out):
    try:
        states = sorted(s for s in map(pyatspi.stateToString, node.getState().getStates()) if s in STATES)
        attrs = dict(a.split(":", 1) for a in node.getAttributes() if ":" in a)
        out.append({
            "depth": depth,
            "role": node.getRoleName(),
            "name": node.name,
            "states": states,
            "tag": attrs.get("tag"),
            "id": attrs.get("id"),
        })
        for i in range(node.childCount):
            child = node.getChildAtIndex(i)
            if child is not None:
                walk(child, depth + 1, out)
    except Exception:  # a node can go while it is read
        pass


def main():
    pid, wanted = int(sys.argv[1]), sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    start = time.time()
    nodes = []
    while time.time() - start < limit:
        app = find_app(pid)
        nodes = []
        if app is not None:
            walk(app, 0, nodes)
        if any(wanted == n["name"] for n in nodes):
            break
        time.sleep(0.2)
    json.dump(nodes, sys.stdout)


if __name__ == "__main__":
    main()
