#!/bin/sh
# install.sh - install vm (runit-vm) for this user (or system-wide as root).
#
#   ./install.sh [--yes] [--service runit|systemd]
#
# First installs what vm needs to run and is missing: runit, QEMU
# (qemu-system-<arch>, qemu-img) with the system's package manager, as root or
# through sudo, asking first on a terminal (--yes or VM_SETUP_YES=1: do not
# ask; no terminal and no --yes, or no way to become root: it prints the exact
# command and exits 111); then Deno with npm. Then installs the `vm`
# executable into $BINDIR (default ~/.local/bin, or /usr/local/bin as root):
# compiled with `deno compile` where that works, otherwise a launcher that runs
# the sources copied to $LIBDIR (~/.local/lib/vm, or /usr/local/lib/vm) with
# Deno. Creates $VMDIR/.default from default/ without overwriting a template
# you edited. With --service, also installs and enables vmd as a runit user
# service or a systemd user unit (exit 1 when no runsvdir watches the runit
# service directory: nothing runs vmd then). Safe to re-run: it changes only
# what is out of date.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
service=
yes=${VM_SETUP_YES:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--service) [ $# -ge 2 ] || { echo "install.sh: fatal: --service needs runit or systemd" >&2; exit 100; }
		service=$2; shift 2 ;;
	--service=*) service=${1#--service=}; shift ;;
	-y|--yes) yes=1; shift ;;
	-h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "install.sh: fatal: unknown argument \"$1\"; see ./install.sh --help" >&2; exit 100 ;;
	esac
done
case $service in
'' | runit | systemd) ;;
*) echo "install.sh: fatal: unknown service manager \"$service\"; use runit or systemd" >&2; exit 100 ;;
esac

# shellcheck source-path=SCRIPTDIR source=setup/packages.sh
. "$here/setup/packages.sh"

# What vm needs to run: a command, then the package that has it for apt-get,
# xbps-install, pacman and dnf ("-": not in that manager's repositories). vm
# runs qemu-system-<host arch>; npm is needed only to install Deno.
RUNTIME_PACKAGES='
runsvdir            runit           runit               -                   -
qemu-img            qemu-utils      qemu-img            qemu-img            qemu-img
qemu-system-x86_64  qemu-system-x86 qemu-system-amd64   qemu-system-x86     qemu-system-x86
qemu-system-aarch64 qemu-system-arm qemu-system-aarch64 qemu-system-aarch64 qemu-system-aarch64
npm                 npm             nodejs              npm                 npm
'

# Prints the package that has command $1 for package manager $2 ("-": none).
runtime_package() {
	printf '%s\n' "$RUNTIME_PACKAGES" | while read -r cmd apt xbps pacman dnf; do
		[ "$cmd" = "$1" ] || continue
		case $2 in
		apt-get) echo "$apt" ;;
		xbps-install) echo "$xbps" ;;
		pacman) echo "$pacman" ;;
		dnf) echo "$dnf" ;;
		*) echo - ;;
		esac
	done
}

# Installs the missing runtime packages (or exits, see the header).
install_runtime_packages() {
	manager=$(pkg_manager) || manager=
	needs="runsvdir qemu-img qemu-system-$(uname -m)"
	command -v deno >/dev/null 2>&1 || needs="$needs npm"
	packages='' unpackaged=''
	for cmd in $needs; do
		command -v "$cmd" >/dev/null 2>&1 && continue
		package=$(runtime_package "$cmd" "$manager")
		case $package in
		'' | -) unpackaged="$unpackaged $cmd" ;;
		*) packages="$packages $package" ;;
		esac
	done
	if [ -n "$unpackaged" ]; then
		echo "install.sh: fatal: vm needs$unpackaged, which ${manager:-no package manager known here} cannot install; install runit, QEMU or npm yourself (see README.md, \"Other systems\"), then run ./install.sh again" >&2
		exit 111
	fi
	[ -n "$packages" ] || return 0
	PKG_PROG=install.sh PKG_WHY="vm needs" PKG_HINT="./install.sh --yes"
	PKG_YES=$yes PKG_LISTS=0 PKG_ONLY=
	# shellcheck disable=SC2086 # one word per package
	pkg_ensure $packages
}

install_runtime_packages

if [ "$(id -u)" -eq 0 ]; then
	BINDIR=${BINDIR:-/usr/local/bin}
	LIBDIR=${LIBDIR:-/usr/local/lib/vm}
else
	BINDIR=${BINDIR:-$HOME/.local/bin}
	LIBDIR=${LIBDIR:-$HOME/.local/lib/vm}
fi

say() { printf 'install.sh: %s\n' "$*"; }

# Deno, to build or run vm: with npm (for this user only, unless root).
if ! command -v deno >/dev/null 2>&1; then
	if command -v npm >/dev/null 2>&1; then
		say "Deno is missing; installing it with npm"
		npm_prefix=
		if [ "$(id -u)" -ne 0 ]; then
			npm_prefix="--prefix $HOME/.local"
			PATH=$HOME/.local/bin:$PATH
		fi
		# shellcheck disable=SC2086 # npm_prefix is two words or none
		if ! npm install -g $npm_prefix deno >/dev/null; then
			echo "install.sh: fatal: \"npm install -g $npm_prefix deno\" failed (see above); fix that, or install Deno from https://deno.com, and run ./install.sh again" >&2
			exit 111
		fi
	fi
	if ! command -v deno >/dev/null 2>&1; then
		echo "install.sh: fatal: Deno is not installed; install it (npm install -g deno, or see https://deno.com) and re-run ./install.sh" >&2
		exit 111
	fi
fi
deno=$(command -v deno)

mkdir -p "$BINDIR"
vm=$BINDIR/vm
new=$BINDIR/.vm.new.$$
trap 'rm -rf "$new" "$LIBDIR.new.$$"' EXIT

# Replaces $2 by $1 when they differ; says what it did.
install_file() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		rm -f "$1"
		say "$3 unchanged: $2"
	else
		mv -f "$1" "$2"
		say "$3 installed: $2"
	fi
}

if timeout 300 "$deno" compile --quiet --allow-all --unstable-net --include "$here/cli" --include "$here/lib" \
	--include "$here/default/images.conf" \
	--output "$new" "$here/main.ts" >/dev/null 2>&1; then
	install_file "$new" "$vm" "compiled vm"
else
	rm -f "$new"
	# No compiled binary (deno compile needs to download its runtime): install
	# the sources next to a launcher that runs them with this Deno.
	src=$LIBDIR.new.$$
	mkdir -p "$src"
	cp -R "$here/main.ts" "$here/deno.json" "$here/lib" "$here/cli" "$src/"
	mkdir -p "$src/default" && cp "$here/default/images.conf" "$src/default/"
	if [ -d "$LIBDIR" ] && diff -r "$src" "$LIBDIR" >/dev/null 2>&1; then
		rm -rf "$src"
	else
		rm -rf "$LIBDIR.old.$$"
		[ -d "$LIBDIR" ] && mv "$LIBDIR" "$LIBDIR.old.$$"
		mv "$src" "$LIBDIR"
		rm -rf "$LIBDIR.old.$$"
		say "sources installed: $LIBDIR"
	fi
	q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
	printf '#!/bin/sh\n# vm launcher written by install.sh (deno compile was not possible here)\nexec %s run --allow-all --unstable-net --quiet %s "$@"\n' \
		"$(q "$deno")" "$(q "$LIBDIR/main.ts")" >"$new"
	chmod 755 "$new"
	install_file "$new" "$vm" "vm launcher (runs $deno; deno compile was not possible)"
fi

"$vm" __setup "$here/default" "$vm"

# vm service install exits 1 when the service is installed but nothing runs it.
service_rc=0
if [ -n "$service" ]; then
	"$vm" service install "$service" || service_rc=$?
fi

case ":$PATH:" in
*":$BINDIR:"*) ;;
*) say "add $BINDIR to your PATH, e.g.: echo 'export PATH=\"$BINDIR:\$PATH\"' >> ~/.profile" ;;
esac
if [ -z "$service" ]; then
	say "done. Next: start vmd (\"vm daemon\", or ./install.sh --service runit|systemd), then \"vm make <name>\"; see \"vm help\""
elif [ "$service_rc" -eq 0 ]; then
	say "done. Next: \"vm make <name>\" once vmd runs (see above); see \"vm help\""
else
	echo "install.sh: vm is installed, but vmd is not running (see above)" >&2
	exit "$service_rc"
fi
