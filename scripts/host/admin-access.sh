# --- admin access: AUTHORIZED_KEY_LINE in the admin user's authorized_keys, REVOKED_KEY_IDS out of it.
# Lines are matched by key type and base64 (options and comments aside); every other line is kept, so
# keys an operator added by hand on an existing host stay. The file is replaced atomically.
home=$(getent passwd "$ADMIN_USER" | cut -d: -f6) || die "no user ${ADMIN_USER} on this host: the admin user is made at first boot"
[[ -n $home && -d $home ]] || die "user ${ADMIN_USER} has no home directory"
group=$(id -gn "$ADMIN_USER")
file=$home/.ssh/authorized_keys

# The `type base64` of an authorized_keys line: the first field that names a key type, and the next.
line_key_id() {
    local -a fields
    read -r -a fields <<<"$1" || true
    local i
    for ((i = 0; i < ${#fields[@]} - 1; i++)); do
        if [[ ${fields[i]} =~ ^(ssh-|ecdsa-sha2-|sk-) ]]; then
            printf '%s %s' "${fields[i]}" "${fields[i + 1]}"
            return 0
        fi
    done
    return 0
}

declare -A revoked=()
while IFS= read -r id; do
    [[ -n $id ]] && revoked[$id]=1
done <<<"$REVOKED_KEY_IDS"

kept=()
have_authorized=0
removed=0
if [[ -f $file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
        id=$(line_key_id "$line")
        if [[ -n $id && -n ${revoked[$id]:-} ]]; then
            removed=$((removed + 1))
            continue
        fi
        [[ $id == "$AUTHORIZED_KEY_ID" ]] && have_authorized=1
        kept+=("$line")
    done <"$file"
fi
((have_authorized == 1)) || kept+=("$AUTHORIZED_KEY_LINE")

if [[ ! -d $home/.ssh ]]; then
    install -d -m 700 -o "$ADMIN_USER" -g "$group" "$home/.ssh"
    changed "$home/.ssh"
fi
tmp=$(mktemp "$home/.ssh/.crosscloud.XXXXXX")
((${#kept[@]} == 0)) || printf '%s\n' "${kept[@]}" >"$tmp"
if [[ -f $file ]] && cmp -s "$tmp" "$file" && [[ $(stat -c '%a %U' "$file") == "600 $ADMIN_USER" ]]; then
    rm -f "$tmp"
else
    chmod 600 "$tmp"
    chown "$ADMIN_USER:$group" "$tmp"
    mv -f "$tmp" "$file"
    changed "$file: admin key $(ssh-keygen -lf - <<<"$AUTHORIZED_KEY_LINE" | cut -d' ' -f2) authorized, ${removed} revoked"
fi
log "status: admin key $(ssh-keygen -lf - <<<"$AUTHORIZED_KEY_LINE" | cut -d' ' -f2) authorized for ${ADMIN_USER}"
