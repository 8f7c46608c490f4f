"""The in-place switch tcp_none -> tls -> tcp_none of the side effect (issue 10 items 10, 11).

The listener sampler (prepare.yml) records libvirt's listeners about ten times a second. Between
the marks the side effect wrote (/var/log/lm-switch-window), the host may be without a listener on
its migration address only for the restart itself: one systemctl stop and one start, a few seconds
on this loaded 2-core machine, never the rest of the run (the old handler left hosts with no
listener at all until a second run).
"""
ADDR = {"hv-a": "198.18.10.11", "hv-b": "198.18.10.12"}
# the restart itself took 1-3 s here; a bound well above it and far below a run's length
MAX_WITHOUT_LISTENER = 10.0


def test_never_without_a_listener_for_longer_than_the_restart(host):
    me = host.check_output("hostname")
    start, end = [float(x) for x in host.file("/var/log/lm-switch-window").content_string.split()]
    samples, present = [], set()
    for line in host.file("/var/log/lm-listen-samples.log").content_string.splitlines():
        fields = line.split()
        if not fields or not start <= float(fields[0]) <= end:
            continue
        if len(fields) == 2 and fields[1] == "sample":
            samples.append(float(fields[0]))
        elif len(fields) >= 5 and fields[4].rsplit(":", 1)[0] == ADDR[me]:
            present.add(float(fields[0]))
    assert len(samples) > 100, "too few samples in the switch window (%d)" % len(samples)
    longest, since = 0.0, None
    for t in samples:
        if t in present:
            if since is not None:
                longest = max(longest, t - since)
            since = None
        elif since is None:
            since = t
    assert since is None, "no listener on %s at the end of the switch (since %.1f s before it)" % (ADDR[me], end - since)
    assert longest <= MAX_WITHOUT_LISTENER, "%s was without a listener for %.1f s" % (me, longest)
    print("%s: longest time without a listener during the switch: %.2f s" % (me, longest))
