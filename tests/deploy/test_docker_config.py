"""The deployment files keep their promises: docker-compose.yml, the Dockerfile, the worker's profiles.

No Docker engine runs here, so these read the files and check what deploy/README.md promises: no
app container is privileged, runs as root, keeps a capability or can gain one; roots are read-only
with a small /tmp; memory and process limits; the worker's seccomp profile is Docker's default plus
only what bubblewrap needs, namespaces only inside a new user namespace, and the dangerous calls
stay refused. test_seccomp_profile_runtime.py enforces the profile for real and runs bwrap under it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers_seccomp import (
    CLONE_NAMESPACES,
    CLONE_NEWNS,
    CLONE_NEWUSER,
    REPO,
    SIGCHLD,
    allowing_rules,
    applying_rules,
    load_profile,
    our_rules,
    permits,
    without_our_names,
)

COMPOSE_PATH = REPO / "docker-compose.yml"
README = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
APPARMOR_PATH = REPO / "deploy" / "apparmor-nn-autograder-worker"
APP_SERVICES = ("migrate", "web", "worker", "beat")
ARCHES = ("amd64", "arm64")
PROFILE = load_profile()

# What bubblewrap needs beyond Docker's default profile, as documented in deploy/README.md.
ADDED = {"clone", "mount", "pivot_root", "sethostname", "umount2"}
# Calls no worker may make, whatever bubblewrap needs; Docker refuses them to containers without
# capabilities, and our profile must too (ptrace and process_vm_* are refused even though Docker's
# default allows them on kernels >= 4.8).
DANGEROUS = {
    "acct", "add_key", "bpf", "chroot", "clock_settime", "clock_settime64", "create_module",
    "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms",
    "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl",
    "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "lsm_set_self_attr",
    "mount_setattr", "move_mount", "nfsservctl", "open_by_handle_at", "open_tree",
    "perf_event_open", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
    "ptrace", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "setdomainname",
    "setns", "settimeofday", "stime", "swapoff", "swapon", "syslog", "sysfs", "umount",
    "unshare", "uselib", "userfaultfd", "vhangup", "vm86", "vm86old",
}  # fmt: skip


def _interpolate(value):
    """Compose's ${VAR:-default} and ${VAR:?message} with no variable set, recursively."""
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        kind, default = match.group(2), match.group(3) or ""
        return default if kind == "-" else ("<required>" if kind == "?" else "")

    return re.sub(r"\$\{(\w+)(?::?([-?])([^}]*))?\}", substitute, value).replace("$$", "$")


COMPOSE = _interpolate(yaml.safe_load(COMPOSE_PATH.read_text(encoding="utf-8")))
SERVICES = COMPOSE["services"]


def _bytes(size) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(size).lower()).groups()
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]


def _security_opts(service: dict) -> dict[str, str]:
    """security_opt as {name: value}; both `name=value` and `name:value` spellings."""
    return dict(re.split(r"[=:]", option, maxsplit=1) for option in service.get("security_opt", []))


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_has_the_app_services():
    assert set(APP_SERVICES) <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_container_is_privileged_or_shares_the_host(name):
    service = SERVICES[name]
    assert service.get("privileged", False) is False
    assert not service.get("cap_add")
    assert not service.get("devices")
    for key in ("network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup"):
        assert service.get(key) != "host", key
    for volume in service.get("volumes", []):
        assert "docker.sock" not in str(volume)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_containers_run_as_a_non_root_user(name):
    uid = str(SERVICES[name].get("user", "")).split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{name} runs as {uid or 'the image default'}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_containers_drop_every_capability_and_cannot_gain_one(name):
    service = SERVICES[name]
    assert service.get("cap_drop") == ["ALL"]
    assert _security_opts(service).get("no-new-privileges") == "true"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_containers_have_a_read_only_root_and_a_small_tmp(name):
    service = SERVICES[name]
    assert service.get("read_only") is True
    tmp = [entry for entry in service.get("tmpfs", []) if entry.split(":")[0] == "/tmp"]
    assert len(tmp) == 1, "Python, Celery and the sandbox's server need a writable /tmp"
    options = dict((opt.split("=") + [""])[:2] for opt in tmp[0].split(":", 1)[1].split(",") if opt)
    assert 0 < _bytes(options["size"]) <= _bytes("1g")
    assert "nosuid" in options and "nodev" in options


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_containers_have_memory_and_process_limits(name):
    service = SERVICES[name]
    assert _bytes("128m") <= _bytes(service["mem_limit"]) <= _bytes("64g")
    assert 0 < int(service["pids_limit"]) <= 4096


def test_worker_memory_limit_leaves_room_for_the_sandboxes_and_no_swap():
    worker = SERVICES["worker"]
    assert _bytes(worker["mem_limit"]) >= _bytes("1g")
    assert worker["memswap_limit"] == worker["mem_limit"]


def test_only_the_worker_changes_docker_default_seccomp_and_apparmor():
    for name in APP_SERVICES:
        options = _security_opts(SERVICES[name])
        if name != "worker":
            assert set(options) == {"no-new-privileges"}, name


def test_worker_seccomp_profile_is_ours_and_exists():
    seccomp = _security_opts(SERVICES["worker"])["seccomp"]
    assert seccomp not in ("unconfined", "builtin")
    path = (COMPOSE_PATH.parent / seccomp).resolve()
    assert path == REPO / "deploy" / "seccomp-bwrap.json" and path.is_file()


def test_worker_apparmor_is_unconfined_or_our_profile():
    profile = _security_opts(SERVICES["worker"])["apparmor"]
    declared = re.search(r"^profile (\S+) ", APPARMOR_PATH.read_text(), re.M).group(1)
    assert profile in ("unconfined", declared)
    assert declared in README and "AUTOGRADER_WORKER_APPARMOR" in README


def test_worker_environment():
    env = SERVICES["worker"]["environment"]
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["DJANGO_ENV"] == "production"
    unsandboxed = str(env.get("AUTOGRADER_ALLOW_UNSANDBOXED_CODE", "false")).lower()
    assert unsandboxed in ("0", "false", "no", "off")


def test_worker_healthcheck_pings_celery():
    test = SERVICES["worker"]["healthcheck"]["test"]
    assert "inspect ping" in " ".join(test)


def test_apparmor_profile_is_docker_default_with_mounts_allowed():
    text = APPARMOR_PATH.read_text()
    rules = {line.strip() for line in text.splitlines() if not line.strip().startswith("#")}
    assert "deny mount," not in rules
    assert {"mount,", "pivot_root,", "deny mount fstype=proc,", "deny mount fstype=sysfs,"} <= rules
    for kept in ("deny @{PROC}/sysrq-trigger rwklx,", "deny @{PROC}/kcore rwklx,",
                 "deny /sys/firmware/** rwklx,", "deny /sys/kernel/security/** rwklx,"):  # fmt: skip
        assert kept in rules


# --- Dockerfile and .dockerignore --------------------------------------------------------------


DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_image_installs_bubblewrap_from_debian():
    assert re.search(r"apt-get install [^\n]*\bbubblewrap\b", DOCKERFILE)
    assert re.search(r"^FROM python:3\.\d+-slim-\w+", DOCKERFILE, re.M), "pin the Debian release"


def test_image_runs_as_a_non_root_user_and_has_no_setuid_bwrap():
    user = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert not re.search(r"chmod\s+[ugo]*\+s|chmod\s+[2467][0-7]{3}\b", DOCKERFILE)


def test_image_sets_one_blas_thread():
    assert re.search(r"OPENBLAS_NUM_THREADS=1\b", DOCKERFILE)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv"} <= ignored


# --- deploy/seccomp-bwrap.json -----------------------------------------------------------------


def test_profile_refuses_what_it_does_not_list():
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO"
    assert PROFILE.get("defaultErrnoRet", 1) == 1  # EPERM, as Docker's default


def test_our_additions_are_exactly_the_documented_calls():
    rules = our_rules(PROFILE)
    assert {name for rule in rules for name in rule["names"]} == ADDED
    assert all(
        rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("includes", {}).get("caps")
        for rule in rules
    )
    for name in ADDED:
        assert f"`{name}`" in README, f"deploy/README.md does not explain {name}"


@pytest.mark.parametrize("arch", ARCHES)
def test_without_our_rules_bubblewrap_gets_nothing(arch):
    """The untagged part is Docker's default: it gives a capability-less container none of these."""
    docker_default = without_our_names(PROFILE, ADDED)
    assert not permits(docker_default, arch, "clone", (CLONE_NAMESPACES | SIGCHLD,))
    for name in sorted(ADDED - {"clone"}):
        assert not allowing_rules(docker_default, arch, name), name


@pytest.mark.parametrize("arch", ARCHES)
def test_namespaces_only_come_with_a_new_user_namespace(arch):
    def clone(flags: int) -> bool:
        return permits(PROFILE, arch, "clone", (flags | SIGCHLD, 0, 0, 0, 0))

    assert clone(0)  # fork
    assert clone(0x003D0F00)  # a thread: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|...
    # bubblewrap's clone: every namespace, a user namespace among them
    assert clone(CLONE_NAMESPACES)
    for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x20000000, 0x40000000):
        assert not clone(flag), hex(flag)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWPID, NEWNET
        assert clone(flag | CLONE_NEWUSER), hex(flag)
    assert not clone(CLONE_NAMESPACES & ~CLONE_NEWUSER)
    assert not permits(PROFILE, arch, "clone3")  # fails with ENOSYS: libc falls back to clone
    [clone3] = [r for r in applying_rules(PROFILE, arch) if "clone3" in r["names"]]
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38


def test_s390_clone_rule_inspects_its_own_argument_order():
    assert permits(PROFILE, "s390x", "clone", (0, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD))
    assert not permits(PROFILE, "s390x", "clone", (0, CLONE_NEWNS | SIGCHLD))


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", sorted(DANGEROUS))
def test_dangerous_calls_stay_refused(arch, name):
    assert not allowing_rules(PROFILE, arch, name)


@pytest.mark.parametrize("arch", ARCHES)
def test_vsock_and_unlisted_socket_families_stay_refused(arch):
    assert permits(PROFILE, arch, "socket", (1,))  # AF_UNIX
    assert permits(PROFILE, arch, "socket", (16,))  # AF_NETLINK: bwrap brings up the loopback
    assert not permits(PROFILE, arch, "socket", (40,))  # AF_VSOCK


def test_profile_rules_are_well_formed():
    known = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"}
    for rule in PROFILE["syscalls"]:
        assert rule["names"] and rule["action"] in known, rule
        assert len(set(rule["names"])) == len(rule["names"]), rule["names"]


def test_readme_names_the_moby_profile_it_is_based_on():
    assert re.search(r"moby/profiles[^\n]*seccomp/default\.json", README)
    assert Path(REPO / "deploy" / "seccomp-bwrap.json").is_file()
