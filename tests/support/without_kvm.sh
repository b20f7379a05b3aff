#!/bin/sh
# Runs a command as on a machine without /dev/kvm: in a private mount
# namespace whose /dev holds everything the host's does (devices, pts, shm)
# but kvm. With --unusable, /dev/kvm is there but only root may open it (a
# machine where the user is not in the kvm group). Root only (unshare -m).
# For checking that the suite passes on both kinds of machine:
#
#     tests/support/without_kvm.sh deno task test
#
set -eu
unusable=no
if [ "${1-}" = "--unusable" ]; then
	unusable=yes
	shift
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "without_kvm.sh: needs root (unshare -m)" >&2
	exit 111
fi
exec unshare --mount --propagation private -- sh -euc '
	unusable=$1
	shift
	new=$(mktemp -d /tmp/vm-nokvm-dev.XXXXXX)
	mount -t tmpfs -o mode=0755 nokvm "$new"
	for e in /dev/* /dev/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		case "$e" in /dev/kvm) continue ;; esac
		if [ -d "$e" ] && [ ! -L "$e" ]; then
			mkdir "$new/${e#/dev/}"
			mount --rbind "$e" "$new/${e#/dev/}"
		else
			cp -a "$e" "$new/"
		fi
	done
	[ "$unusable" = no ] || mknod -m 0600 "$new/kvm" c 10 232
	mount --move "$new" /dev
	rmdir "$new"
	exec "$@"
' sh "$unusable" "$@"
