"""libvirt_listener's restart handler restarts the daemon that reads what changed (issue 10, item 9).

With the modular daemons, virtproxyd owns the listener but virtqemud reads qemu.conf: a change
of qemu.conf (or of QEMU's x509 folder) must restart virtqemud, not only virtproxyd. Debian 12
has no modular daemon packages, so no Molecule host can show it; this test evaluates the role's
own data (vars/main.yml, defaults/main.yml) and the conditions and unit names of the handler's
tasks (tasks/restart.yml) with Ansible's templating, for each start-up mode.
"""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "libvirt_listener")


def _ansible():
    """Ansible's controller code, imported when a test here runs, not when pytest collects: once
    imported, the in-process module tests' warnings go to the display instead of the result
    (tests/unit/plugins/modules/test_live_migrate.py 'suspect accepted is a warning' failed)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    try:
        from ansible.template import trust_as_template
    except ImportError:   # ansible-core < 2.19 (no data tagging): every string is a template
        def trust_as_template(value):
            return value
    return DataLoader, Templar, trust_as_template


def _holds(templar, condition):
    """A `when:` condition, evaluated as Ansible does."""
    if hasattr(templar, "evaluate_conditional"):   # ansible-core >= 2.19
        return templar.evaluate_conditional(condition)
    # ansible-core < 2.19: what ansible.playbook.conditional.Conditional renders
    return templar.template("{%% if %s %%}True{%% else %%}False{%% endif %%}" % condition) in (True, "True")


def _trust(data):
    """The role's own files are trusted as templates, as Ansible trusts a role's content."""
    if isinstance(data, str):
        return _ansible()[2](data)
    if isinstance(data, dict):
        return {k: _trust(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_trust(v) for v in data]
    return data


def _load(*parts):
    return _trust(_ansible()[0]().load_from_file(os.path.join(ROLE, *parts)))


def _conditions(task):
    when = task.get("when", [])
    return when if isinstance(when, list) else [when]


def _walk(tasks, templar, done):
    """Append (unit, state) for each systemd_service task that would run, in order."""
    for task in tasks:
        if not all(_holds(templar, c) for c in _conditions(task)):
            continue
        if "block" in task:
            _walk(task["block"], templar, done)
            continue
        command = task.get("ansible.builtin.command")
        if command is not None and "argv" in command:
            argv = templar.template(command["argv"])
            if argv[:2] in (["systemctl", "stop"], ["systemctl", "start"]):
                # one systemctl call: one step holding every unit, in the order given
                done.append((tuple(argv[2:]), {"stop": "stopped", "start": "started"}[argv[1]]))
            continue
        args = task.get("ansible.builtin.systemd_service")
        if args is None or "name" not in args:
            continue
        items = templar.template(task["loop"]) if "loop" in task else [None]
        for item in items:
            templar.available_variables = dict(templar.available_variables, item=item)
            done.append((templar.template(args["name"]), args.get("state")))


UNITS = {
    "modular": ["virtproxyd.service", "virtproxyd.socket", "virtproxyd-ro.socket", "virtproxyd-admin.socket",
                "virtproxyd-tcp.socket", "virtproxyd-tls.socket", "virtqemud.service"],
    "socket": ["libvirtd.service", "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket",
               "libvirtd-tcp.socket", "libvirtd-tls.socket"],
}
UNITS["traditional"] = UNITS["socket"]


def handler_run(mode, qemu_conf_changed=False, qemu_x509_changed=False, transport="tls"):
    """The steps of the restart handler on a host in MODE: (unit, state) for a systemd_service
    task, (units, 'stopped'|'started') for one systemctl call."""
    variables = dict(_load("defaults", "main.yml"))
    variables.update(_load("vars", "main.yml"))
    variables.update({
        "__libvirt_listener_effective_mode": mode,
        "libvirt_listener_transport": transport,
        # what tasks/config.yml registers (loop results of lineinfile and copy)
        "__libvirt_listener_qemu_conf_written": {"changed": qemu_conf_changed, "results": []},
        "__libvirt_listener_qemu_x509_copied": {"changed": qemu_x509_changed, "results": []},
        "__libvirt_listener_unit_states": {u: "enabled" for u in UNITS[mode]},
        "ansible_check_mode": False,
    })
    handlers = _load("handlers", "main.yml")
    assert [h["ansible.builtin.include_tasks"] for h in handlers if h["name"] == "Restart libvirt"] == [
        "{{ role_path }}/tasks/restart.yml"]
    done = []
    _walk(_load("tasks", "restart.yml"), _ansible()[1](loader=_ansible()[0](), variables=variables), done)
    return done


def _flat(done):
    """One (unit, state) per unit, in order, also from one systemctl call with several units."""
    return [(u, s) for units, s in done for u in (units if isinstance(units, tuple) else (units,))]


def reread(done):
    """Daemons that start again with their configuration re-read: restarted, or stopped then started."""
    done = _flat(done)
    units = {u for u, s in done if s == "restarted"}
    units |= {u for i, (u, s) in enumerate(done) if s == "stopped" and (u, "started") in done[i + 1:]}
    return units


@pytest.mark.parametrize("changed", [{"qemu_conf_changed": True}, {"qemu_x509_changed": True}])
def test_modular_qemu_conf_change_restarts_virtqemud(changed):
    units = reread(handler_run("modular", **changed))
    assert "virtqemud.service" in units
    assert "virtproxyd.service" in units  # the handler was notified: the listener restarts as before
    assert not {u for u in units if u.startswith("libvirtd")}


def test_modular_listener_change_alone_leaves_virtqemud_running():
    """virtqemud runs the guests' QEMU monitors: it restarts only when what it reads changed."""
    done = handler_run("modular")
    assert "virtqemud.service" not in {step[0] for step in _flat(done)}
    assert "virtproxyd.service" in reread(done)
    assert "virtproxyd-tls.socket" in reread(done)


@pytest.mark.parametrize("mode", ["socket", "traditional"])
@pytest.mark.parametrize("qemu_conf_changed", [True, False])
def test_monolithic_libvirtd_rereads_qemu_conf_and_no_virtqemud(mode, qemu_conf_changed):
    done = handler_run(mode, qemu_conf_changed=qemu_conf_changed)
    assert "libvirtd.service" in reread(done)
    assert not {step[0] for step in _flat(done) if step[0].startswith(("virtqemud", "virtproxyd"))}


@pytest.mark.parametrize("mode, prefix", [("socket", "libvirtd"), ("modular", "virtproxyd")])
@pytest.mark.parametrize("transport, wanted, unwanted", [("tls", "-tls", "-tcp"), ("tcp_none", "-tcp", "-tls")])
def test_sockets_stop_first_then_the_daemon_then_all_start_in_one_call(mode, prefix, transport, wanted, unwanted):
    """Issue 10 item 10: started one by one, a transport socket was refused ("Socket service
    libvirtd.service already active, refusing") when a client (nova-compute reconnects at once)
    had socket-activated the daemon in between; the host was left with no listener at all. Now:
    every socket of the daemon stops (no client can start it again), then the daemon, then the
    wanted sockets and the daemon start in ONE systemctl call (systemd orders sockets first);
    the other transport's socket stays stopped."""
    done = [step for step in handler_run(mode, transport=transport) if isinstance(step[0], tuple)]
    daemon = prefix + ".service"
    sockets = {prefix + s for s in (".socket", "-ro.socket", "-admin.socket", "-tcp.socket", "-tls.socket")}
    assert [s for dummy, s in done] == ["stopped", "stopped", "started"], done
    assert set(done[0][0]) == sockets
    assert done[1][0] == (daemon,)
    assert done[2][0] == (prefix + ".socket", prefix + "-ro.socket", prefix + "-admin.socket", prefix + wanted + ".socket", daemon)
    assert prefix + unwanted + ".socket" not in done[2][0]


def test_traditional_mode_stops_the_masked_sockets_too_and_starts_the_daemon_alone():
    done = [step for step in handler_run("traditional") if isinstance(step[0], tuple)]
    assert [s for dummy, s in done] == ["stopped", "stopped", "started"], done
    assert done[2][0] == ("libvirtd.service",)


def test_qemu_daemon_per_mode_is_the_one_that_reads_qemu_conf():
    data = _load("vars", "main.yml")["__libvirt_listener_qemu_daemons"]
    assert data == {"traditional": "libvirtd.service", "socket": "libvirtd.service", "modular": "virtqemud.service"}
    assert set(data) | {"auto"} == set(_load("vars", "main.yml")["__libvirt_listener_modes"])


def _tasks(tasks):
    for task in tasks:
        yield task
        yield from _tasks(task.get("block", []))


def test_every_task_that_writes_what_qemu_reads_registers_for_the_handler():
    """config.yml: qemu.conf and QEMU's x509 folder are written only by tasks that notify the
    handler and register a result that __libvirt_listener_qemu_changed reads."""
    watched = _load("vars", "main.yml")["__libvirt_listener_qemu_changed"]
    writers = [t for t in _tasks(_load("tasks", "config.yml"))
               if "notify" in t and any(("libvirt_listener_qemu_conf" in str(v) or "libvirt_listener_qemu_tls_dir" in str(v))
                                        for k, v in next(iter(a for m, a in t.items() if m.startswith("ansible.builtin."))).items()
                                        if k in ("path", "dest"))]
    assert len(writers) == 2, [t["name"] for t in writers]
    for task in writers:
        assert task["notify"] == "Restart libvirt", task["name"]
        assert task.get("register") and task["register"] in watched, task["name"]
