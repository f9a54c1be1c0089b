#!/bin/sh
# Runs from the machine's own directory, as Choria resolves relative commands.
echo "backup window open on $MACHINE_NAME"
