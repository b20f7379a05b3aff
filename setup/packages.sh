#!/bin/sh
# setup/packages.sh - install system packages, the one way ./install.sh (which
# sources this file) and the tests' setup (tests/support/test_deps.ts, which
# runs it) both use.
#
#   sh setup/packages.sh [--yes] [--lists] [--only MANAGER] [--prog NAME]
#                        [--why TEXT] [--hint TEXT] [--] PACKAGE...
#
# Finds the package manager (apt-get, xbps-install, pacman or dnf; --only: that
# one or fail). As root it installs the PACKAGEs with it, otherwise through
# sudo (a user sudo says "may not run sudo" to gets the command to run as root
# at once, no password asked). On a terminal it asks first (one y/N question; "no" exits 1, nothing
# installed) unless --yes or VM_SETUP_YES=1. Without a terminal and without
# --yes, or with no way to become root, it installs nothing: it prints the one
# exact command to run and exits 111. With apt-get, `apt-get update` runs
# first when an install is needed and apt's lists are empty or a day old, and
# with --lists also when only the lists are missing (apt-get download needs
# them). VM_APT_LISTS names apt's list directory (default /var/lib/apt/lists).

# Prints the first package manager on PATH; fails when there is none.
pkg_manager() {
	for pkg_m in apt-get xbps-install pacman dnf; do
		if command -v "$pkg_m" >/dev/null 2>&1; then
			echo "$pkg_m"
			return 0
		fi
	done
	return 1
}

# Prints "empty" (no package lists), "old" (not updated for a day) or "fresh".
pkg_apt_lists() {
	pkg_dir=${VM_APT_LISTS:-/var/lib/apt/lists}
	pkg_lists=empty
	for pkg_f in "$pkg_dir"/*_Packages*; do
		[ -e "$pkg_f" ] && pkg_lists=some
	done
	if [ $pkg_lists = empty ]; then
		echo empty
	elif [ -n "$(find "$pkg_dir" -maxdepth 0 -mmin -1440 2>/dev/null)" ]; then
		echo fresh
	else
		echo old
	fi
}

# pkg_command MANAGER SUDO UPDATE PACKAGE...: prints the command line that
# installs the PACKAGEs (SUDO: "" or "sudo "; UPDATE=1: apt-get update first).
pkg_command() {
	pkg_m=$1 pkg_s=$2 pkg_u=$3
	shift 3
	pkg_i=
	if [ $# -gt 0 ]; then
		case $pkg_m in
		apt-get) pkg_i="${pkg_s}apt-get install -y $*" ;;
		xbps-install) pkg_i="${pkg_s}xbps-install -Sy $*" ;;
		pacman) pkg_i="${pkg_s}pacman -S --needed --noconfirm $*" ;;
		dnf) pkg_i="${pkg_s}dnf install -y $*" ;;
		esac
	fi
	if [ "$pkg_u" != 1 ]; then
		echo "$pkg_i"
	elif [ -n "$pkg_i" ]; then
		echo "${pkg_s}apt-get update && $pkg_i"
	else
		echo "${pkg_s}apt-get update"
	fi
}

# Prints "<prog>: fatal: <text>" on stderr and exits 111.
pkg_fatal() {
	printf '%s: fatal: %s\n' "$PKG_PROG" "$1" >&2
	exit 111
}

# Asks on the terminal whether to run $1; exits 1 (nothing installed) unless yes.
pkg_ask() {
	printf '%s: %s %s; run "%s" now? [y/N] ' "$PKG_PROG" "$PKG_WHY" "$pkg_list" "$1" >&2
	pkg_answer=
	read -r pkg_answer || pkg_answer=
	case $pkg_answer in
	y | Y | yes | Yes | YES) ;;
	*)
		printf '%s: nothing installed; to install, run: %s\n' "$PKG_PROG" "$1" >&2
		exit 1
		;;
	esac
}

# pkg_ensure PACKAGE...: installs the PACKAGEs as the header says, with the
# settings PKG_PROG, PKG_WHY, PKG_HINT, PKG_YES, PKG_LISTS, PKG_ONLY. Returns 0
# when there was nothing to do or the install succeeded; otherwise exits.
pkg_ensure() {
	pkg_list="$*"
	pkg_mgr=$(pkg_manager) || pkg_mgr=
	if [ -n "${PKG_ONLY:-}" ] && [ "$pkg_mgr" != "$PKG_ONLY" ]; then
		[ $# -eq 0 ] && return 0
		pkg_fatal "$PKG_WHY $pkg_list, and $PKG_ONLY is not on PATH (a Debian or Ubuntu machine has it); install them yourself"
	elif [ -z "$pkg_mgr" ]; then
		[ $# -eq 0 ] && return 0
		pkg_fatal "$PKG_WHY $pkg_list, and none of apt-get, xbps-install, pacman, dnf is on PATH; install them yourself"
	fi
	pkg_update=0
	if [ "$pkg_mgr" = apt-get ]; then
		case $(pkg_apt_lists) in
		empty) { [ $# -gt 0 ] || [ "${PKG_LISTS:-0}" = 1 ]; } && pkg_update=1 ;;
		old) [ $# -gt 0 ] && pkg_update=1 ;;
		esac
	fi
	[ $# -eq 0 ] && [ $pkg_update = 0 ] && return 0
	[ $# -eq 0 ] && pkg_list="apt's package lists (apt-get update)"
	pkg_root=$(pkg_command "$pkg_mgr" "" $pkg_update "$@")
	if [ "$(id -u)" = 0 ]; then
		pkg_sudo=
	elif ! command -v sudo >/dev/null 2>&1; then
		pkg_fatal "$PKG_WHY $pkg_list; to install, run as root: $pkg_root"
	elif pkg_says=$(LC_ALL=C sudo -n -v 2>&1); then
		pkg_sudo="sudo "
	else
		# sudo tells a user it does not let in without asking a password: say so
		# now, rather than after the password prompts of sudo.
		case $pkg_says in
		*"may not run sudo"*) pkg_fatal "$PKG_WHY $pkg_list, and sudo does not let you install ($pkg_says); to install, run as root: $pkg_root" ;;
		esac
		pkg_sudo="sudo "
	fi
	pkg_cmd=$(pkg_command "$pkg_mgr" "$pkg_sudo" $pkg_update "$@")
	if [ "${PKG_YES:-0}" != 1 ] && [ -t 0 ]; then
		pkg_ask "$pkg_cmd"
	elif [ "${PKG_YES:-0}" != 1 ]; then
		pkg_fatal "$PKG_WHY $pkg_list; to install, run: $pkg_cmd (or: $PKG_HINT)"
	elif [ -n "$pkg_sudo" ] && [ ! -t 0 ] && ! sudo -n true 2>/dev/null; then
		pkg_fatal "$PKG_WHY $pkg_list, and sudo needs a password but there is no terminal to ask it on; to install, run: $pkg_cmd"
	fi
	[ -t 0 ] || export DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-noninteractive}"
	printf '%s: running: %s\n' "$PKG_PROG" "$pkg_cmd"
	sh -c "$pkg_cmd" || pkg_fatal "\"$pkg_cmd\" failed (exit $?); see its output above"
}

# Parses the command line of `sh setup/packages.sh ...` into the PKG_* settings
# and runs pkg_ensure.
pkg_main() {
	PKG_PROG=packages.sh PKG_WHY="needed:" PKG_HINT="again with --yes"
	PKG_YES=${VM_SETUP_YES:-0} PKG_LISTS=0 PKG_ONLY=
	while [ $# -gt 0 ]; do
		case $1 in
		--yes | -y) PKG_YES=1 ;;
		--lists) PKG_LISTS=1 ;;
		--only | --prog | --why | --hint)
			[ $# -ge 2 ] || { echo "packages.sh: fatal: $1 needs a value" >&2; exit 100; }
			case $1 in
			--only) PKG_ONLY=$2 ;;
			--prog) PKG_PROG=$2 ;;
			--why) PKG_WHY=$2 ;;
			--hint) PKG_HINT=$2 ;;
			esac
			shift
			;;
		--) shift; break ;;
		-*) echo "packages.sh: fatal: unknown option \"$1\"" >&2; exit 100 ;;
		*) break ;;
		esac
		shift
	done
	for pkg_p in "$@"; do
		case $pkg_p in
		*[!a-z0-9.+-]* | '') echo "packages.sh: fatal: \"$pkg_p\" is not a package name" >&2; exit 100 ;;
		esac
	done
	pkg_ensure "$@"
}

case ${0##*/} in
packages.sh) set -eu; pkg_main "$@" ;;
esac
