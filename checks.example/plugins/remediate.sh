#!/bin/sh
# Demo remediation: a real one would restart a service. Exit 0 means "fixed, re-check".
echo "remediating $1"
exit 0
