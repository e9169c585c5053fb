#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install Hadoop for an HDFS daemon: Java (if missing), the hdfs user in group hadoop, and
# the Hadoop release (download, checksum, unpack into install_root/hadoop-<version>, link
# install_root/hadoop). Shared with YARN on the same host; safe to re-run.
source lib/hadoop.sh

hadoop_install hdfs
