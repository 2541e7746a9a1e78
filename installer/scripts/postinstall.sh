#!/bin/sh
# casekeep: after the package is installed or upgraded (deb: configure
# [OLD-VERSION]; rpm: 1 on install, 2 on upgrade). Enables and (re)starts
# the service. The state in /var/lib/casekeep is never touched here.
set -e
if [ -f /etc/casekeep/enroll.env ]; then
	# It may hold an enrollment token: root only.
	chown root:root /etc/casekeep/enroll.env
	chmod 0600 /etc/casekeep/enroll.env
else
	echo "casekeep: put CASEKEEP_SERVER and CASEKEEP_ENROLL_TOKEN in /etc/casekeep/enroll.env to enroll this device" >&2
fi
upgrade=no
case "$1" in
	configure) [ -n "$2" ] && upgrade=yes ;;
	2) upgrade=yes ;;
esac
if command -v systemctl >/dev/null 2>&1; then
	systemctl enable casekeep.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		if [ "$upgrade" = yes ]; then
			systemctl restart casekeep.service || true
		else
			systemctl start casekeep.service || true
		fi
	fi
fi
exit 0
