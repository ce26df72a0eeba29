#!/bin/sh
# Dependencies point one way: common <- delta <- store <- api <- daemon.
# Fails if a module includes a header from a module above it.
set -eu
fail=0
check() { # module, forbidden include prefixes...
	mod=$1; shift
	for bad in "$@"; do
		if grep -n "#include \"$bad/" "$mod"/*.[ch] 2>/dev/null; then
			echo "layering: $mod/ must not include $bad/" >&2
			fail=1
		fi
	done
}
check common delta store api daemon
check delta store api daemon
check store api daemon
check api daemon
exit $fail
