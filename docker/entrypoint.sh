#!/bin/sh
# Entrypoint of the Coderunner worker image, run by tini:
#   tini -s -- /opt/coderunner/docker-entrypoint.sh coderunner worker ...
#
# 1. Makes the cgroup hierarchy writable. Docker mounts /sys/fs/cgroup read-only in every
#    container that is not privileged. With a private cgroup namespace (the default on cgroup v2
#    hosts) the mount shows only this container's own subtree, so remounting it read-write
#    delegates that subtree and nothing else. Remounting needs CAP_SYS_ADMIN (compose: cap_add)
#    and, on AppArmor hosts, no docker-default profile, which denies every mount.
# 2. Drops CAP_SYS_ADMIN before the worker starts: the worker writes cgroup files as their owner
#    (root) and starts bubblewrap as an unprivileged uid; it never needs the capability, so a
#    compromised worker does not get it.
# 3. Runs the command (default: coderunner worker).
#
# The `direct` sandbox type needs none of this; the remount is attempted anyway and only warns.
set -eu

say() { printf 'coderunner-entrypoint: %s\n' "$*" >&2; }

# Bit 21 of a capability mask is CAP_SYS_ADMIN.
has_sys_admin() {
  mask="$(awk '/^CapEff:/ { print $2 }' /proc/self/status)"
  [ $(((0x$mask >> 21) & 1)) -eq 1 ]
}

if [ "${CODERUNNER_REMOUNT_CGROUPS:-1}" = "1" ]; then
  for target in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
    [ -w "$target" ] && continue
    if mount -o remount,rw "$target" 2>/dev/null || mount -o remount,bind,rw "$target" 2>/dev/null; then
      say "remounted $target read-write (this container's cgroup subtree)"
    else
      say "WARNING: $target is read-only and could not be remounted: the bwrap sandbox needs" \
        "writable cgroups (cap_add SYS_ADMIN and security_opt apparmor=unconfined, or privileged;" \
        "see the comment at the top of docker/Dockerfile). The direct sandbox type does not."
    fi
  done
fi

if [ "$#" -eq 0 ]; then
  set -- coderunner worker
fi

if [ "${CODERUNNER_KEEP_SYS_ADMIN:-0}" != "1" ] && has_sys_admin; then
  exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin -- "$@"
fi
exec "$@"
