#!/usr/bin/env bash
# Entrypoint of the engine images: run the container's command as the caller's user.
#
#   docker run -e USER_ID="$(id -u)" -e GROUP_ID="$(id -g)" IMAGE CMD ARGS...
#
# With USER_ID and GROUP_ID set (and the container started as root, the default), a user
# with that uid and a group with that gid are created if they do not exist yet, HOME is
# set to a home folder they own, and CMD runs as that user through setpriv (util-linux;
# gosu where setpriv is missing). Files the command writes to mounted folders then belong
# to the caller on the host instead of root. Without them, CMD runs unchanged.
# USER_NAME (default "user") names the account when one has to be created.
set -euo pipefail

die() {
    echo "entrypoint.sh: $*" >&2
    exit 64
}

user_id=${USER_ID:-}
group_id=${GROUP_ID:-}

if [[ $# -eq 0 ]]; then
    die "no command to run"
fi
if [[ -z "$user_id" && -z "$group_id" ]]; then
    exec "$@"
fi
if [[ -z "$user_id" || -z "$group_id" ]]; then
    die "set both USER_ID and GROUP_ID or neither (got USER_ID='$user_id', GROUP_ID='$group_id'); e.g. -e USER_ID=\$(id -u) -e GROUP_ID=\$(id -g)"
fi
if [[ ! "$user_id" =~ ^[0-9]+$ || ! "$group_id" =~ ^[0-9]+$ ]]; then
    die "USER_ID and GROUP_ID must be numeric ids (got USER_ID='$user_id', GROUP_ID='$group_id')"
fi

if [[ "$(id -u)" -ne 0 ]]; then
    # Started with `docker run --user ...`: we cannot switch users, only check.
    if [[ "$(id -u)" -eq "$user_id" && "$(id -g)" -eq "$group_id" ]]; then
        exec "$@"
    fi
    die "running as uid $(id -u), gid $(id -g), not root: cannot switch to USER_ID=$user_id GROUP_ID=$group_id; drop --user or drop USER_ID/GROUP_ID"
fi
if [[ "$user_id" -eq 0 ]]; then
    exec "$@"
fi

name=${USER_NAME:-user}

# The group: reuse one that has this gid, else create "$name" (or move it to this gid).
if ! getent group "$group_id" >/dev/null; then
    if getent group "$name" >/dev/null; then
        groupmod -o -g "$group_id" "$name"
    else
        groupadd -o -g "$group_id" "$name"
    fi
fi

# The user: "$name" with this uid (-o: the uid may already belong to an image account).
home=/home/$name
if ! getent passwd "$name" >/dev/null; then
    useradd -o -M -u "$user_id" -g "$group_id" -d "$home" -s /bin/bash -c "" "$name"
elif [[ "$(id -u "$name")" -ne "$user_id" || "$(id -g "$name")" -ne "$group_id" ]]; then
    usermod -o -u "$user_id" -g "$group_id" -d "$home" "$name"
fi
# Only the home folder itself is chowned: never walk code or mounted data recursively.
install -d -m 0755 -o "$user_id" -g "$group_id" "$home"
export HOME=$home USER=$name LOGNAME=$name

if command -v setpriv >/dev/null; then
    exec setpriv --reuid="$user_id" --regid="$group_id" --init-groups -- "$@"
elif command -v gosu >/dev/null; then
    exec gosu "$user_id:$group_id" "$@"
fi
die "neither setpriv (util-linux) nor gosu is installed: cannot drop to USER_ID=$user_id"
