"""TrustyConvert's warm LibreOffice instance: started by the server inside the same
fence as a cold LibreOffice run, it keeps one soffice running and converts files on
request, so a conversion does not pay LibreOffice's start-up.

Usage: python3 warm_helper.py HOME SOFFICE

HOME is the instance's folder (the only writable place in the fence); requests come
over the Unix socket HOME/control.sock, one per connection: a JSON line
{"input": PATH, "output": PATH, "import": FILTER, "export": FILTER}, where a filter
may carry options after a colon ("Text - txt - csv (StarCalc):44,34,76,1"). The answer
is a JSON line {"ok": true, "alive": true} or {"ok": false, "error": "...", "alive": …}
("alive": false when soffice died and this instance is ending). HOME/ready appears once
the instance takes requests. The server kills the whole fence to stop it.
"""

import json
import os
import socket
import subprocess
import sys
import time

import uno
from com.sun.star.beans import PropertyValue

PIPE = "trustyconvert"


def prop(name, value):
    item = PropertyValue()
    item.Name = name
    item.Value = value
    return item


def filter_props(spec):
    name, _, options = spec.partition(":")
    props = [prop("FilterName", name)]
    if options:
        props.append(prop("FilterOptions", options))
    return props


def start_office(home, soffice):
    log = open(os.path.join(home, "soffice.log"), "wb")
    return subprocess.Popen(
        [
            soffice,
            "-env:UserInstallation=" + uno.systemPathToFileUrl(os.path.join(home, "profile")),
            "--headless",
            "--invisible",
            "--nocrashreport",
            "--nodefault",
            "--nofirststartwizard",
            "--nolockcheck",
            "--nologo",
            "--norestore",
            "--accept=pipe,name=%s;urp;" % PIPE,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


def connect(office):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    url = "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % PIPE
    for _ in range(1200):
        try:
            context = resolver.resolve(url)
            return context.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", context
            )
        except Exception:
            if office.poll() is not None:
                sys.exit("soffice exited while starting")
            time.sleep(0.05)
    sys.exit("soffice did not start")


def convert(desktop, request):
    # Never run macros (0: NEVER_EXECUTE), never update links (0: NO_UPDATE).
    load = [
        prop("Hidden", True),
        prop("ReadOnly", True),
        prop("MacroExecutionMode", 0),
        prop("UpdateDocMode", 0),
    ] + filter_props(request["import"])
    document = desktop.loadComponentFromURL(
        uno.systemPathToFileUrl(request["input"]), "_blank", 0, tuple(load)
    )
    if document is None:
        raise RuntimeError("LibreOffice could not open the file")
    try:
        document.storeToURL(
            uno.systemPathToFileUrl(request["output"]), tuple(filter_props(request["export"]))
        )
    finally:
        document.close(True)


def answers(desktop, office):
    """Whether LibreOffice still runs and answers over UNO (soffice is a launcher
    script: its process may outlive the office itself)."""
    if office.poll() is not None:
        return False
    try:
        desktop.getFrames()
        return True
    except Exception:
        return False


def main():
    home, soffice = sys.argv[1], sys.argv[2]
    office = start_office(home, soffice)
    desktop = connect(office)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(home, "control.sock"))
    server.listen(1)
    open(os.path.join(home, "ready"), "w").close()
    while True:
        connection, _ = server.accept()
        with connection:
            try:
                request = json.loads(connection.makefile("r", encoding="utf-8").readline())
                convert(desktop, request)
                reply = {"ok": True}
            except Exception as error:  # reported to the server, which fails the job
                reply = {"ok": False, "error": str(error)[:500]}
            # Whether this instance can take another request.
            reply["alive"] = reply["ok"] or answers(desktop, office)
            connection.sendall((json.dumps(reply) + "\n").encode("utf-8"))
            if not reply["alive"]:
                sys.exit("soffice exited")


if __name__ == "__main__":
    main()
