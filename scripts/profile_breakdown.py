#!/usr/bin/env python3
"""Splits `perf script` call stacks of the server into the parts of a request's path.

Usage: profile_breakdown.py STACKS.txt   (written by scripts/bench-profile.sh)

Each sample goes to the first part that matches it: the kernel (by the system call it
was in), then the handler, axum's routing, the session guard (or tower-sessions' layer
in the comparison server), the request frame (correlation id and panic catching), and
what is left (hyper, tokio, the allocator).
For the handler and the guard, the functions they call directly are listed too.
"""

import collections
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+ (.+?)\+0x[0-9a-f]+ \((.*)\)$")


def samples(path):
    """Yields each sample's frames, innermost first, as (function, object) pairs."""
    frames = []
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if frames:
                    yield frames
                frames = []
                continue
            match = FRAME.match(line)
            if match:
                frames.append((match.group(1), match.group(2)))
    if frames:
        yield frames


SYSCALLS = [
    ("writev", "send (writev)"),
    ("recv", "receive (recv)"),
    ("epoll_wait", "wait for events (epoll)"),
    ("futex", "wake or park a thread (futex)"),
    ("getrandom", "getrandom"),
]


def kernel_part(frames):
    for function, _ in frames:
        for marker, name in SYSCALLS:
            if marker in function and "kallsyms" not in function:
                return "kernel: " + name
    return "kernel: other (scheduling, interrupts)"


PARTS = [
    ("Handler<", "handler (extractors, session service, response)"),
    ("RouteFuture", "axum routing"),
    ("Router<S>::call_with_state", "axum routing"),
    ("SessionGuard", "session guard (cookie, id, store read, CSRF)"),
    ("tower_sessions", "session layer (tower-sessions)"),
    ("correlation::Frame", "request frame (correlation id, panics)"),
]


def part_of(frames):
    if "kallsyms" in frames[0][1]:
        return kernel_part(frames)
    for marker, name in PARTS:
        if any(marker in function for function, _ in frames):
            return name
    return "hyper, tokio, allocator (outside the app)"


def callee(frames, marker):
    """The function `marker`'s innermost frame called, or "(itself)"."""
    for index, (function, _) in enumerate(frames):
        if marker in function:
            return frames[index - 1][0] if index > 0 else "(itself)"
    return None


def short(function):
    return re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", function))[:110]


def main():
    parts = collections.Counter()
    below = {"handler": collections.Counter(), "guard": collections.Counter()}
    total = 0
    for frames in samples(sys.argv[1]):
        total += 1
        part = part_of(frames)
        parts[part] += 1
        if part.startswith("handler"):
            below["handler"][short(callee(frames, "Handler<"))] += 1
        elif part.startswith("session guard"):
            below["guard"][short(callee(frames, "SessionGuard"))] += 1
    if total == 0:
        sys.exit("no samples (is perf allowed to record this process?)")
    print(f"\n{total} samples of the server\n")
    print("| part of the request path | share of the server's CPU |")
    print("|---|---:|")
    for name, count in parts.most_common():
        print(f"| {name} | {100 * count / total:.1f} % |")
    for name, counter in below.items():
        print(f"\nwhat the {name} calls (share of all samples):")
        for function, count in counter.most_common(8):
            print(f"  {100 * count / total:5.1f} %  {function}")


if __name__ == "__main__":
    main()
