# crosscloud:synchronousStandbyLoss degrade: the conf.d override that lets a synchronous primary commit
# without its standby (synchronous_standby_names emptied). Written by the node step when the standby
# does not stream yet and by sync-watch after SYNC_DEGRADE_AFTER_SECONDS without it; sync-watch removes
# it once the standby streams again. Shared by both (the node step's body, sync-watch's include).
# write_degraded_conf FILE STANDBY_NAME
write_degraded_conf() {
    install -o postgres -g postgres -m 644 /dev/stdin "$1" <<CONF
# Written by crosscloud (crosscloud:synchronousStandbyLoss degrade): the standby $2 is not
# streaming, so commits do not wait for it. sync-watch removes this once it streams again.
synchronous_standby_names = ''
CONF
}
