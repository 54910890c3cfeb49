#!/usr/bin/env bash
# ci/engine.sh - start the real components that podlock's builder tests need:
#   a Docker engine, a Debian bookworm + python3 base image, and two local
#   distribution (v2) registries (anonymous on :5000, htpasswd on :5001).
#
# Every subcommand is idempotent: running it again when the component is
# already there is a quick no-op. See ci/README.md for details.
set -euo pipefail

# ---------------------------------------------------------------- settings --
CACHE_DIR="${PODLOCK_CI_CACHE:-/var/cache/podlock-ci}"
RUN_DIR="${PODLOCK_CI_RUN_DIR:-/tmp}"
BASE_IMAGE_DEFAULT="${PODLOCK_CI_BASE_IMAGE:-podlock-test/debian-python:bookworm}"
SUITE=bookworm
APT_ETC="${PODLOCK_CI_APT_ETC:-/etc/apt}"
ROOTFS_TAR="$CACHE_DIR/rootfs-$SUITE.tar"
BASE_SAVE_TAR="$CACHE_DIR/base-$SUITE.docker.tar"
DOCKER="${PODLOCK_CI_DOCKER:-docker}"
DOCKERD_LOG="${PODLOCK_CI_DOCKERD_LOG:-$RUN_DIR/podlock-dockerd.log}"
DOCKERD_PIDFILE="${PODLOCK_CI_DOCKERD_PIDFILE:-/run/podlock-dockerd.pid}"
DOCKERD_TIMEOUT="${PODLOCK_CI_DOCKERD_TIMEOUT:-60}"
STORAGE_DRIVER="${PODLOCK_CI_STORAGE_DRIVER:-}"   # empty: overlay2, vfs fallback
# Extra dockerd flags, whitespace-separated (e.g. --data-root=/mnt/docker).
read -r -a DOCKERD_EXTRA_ARGS <<<"${PODLOCK_CI_DOCKERD_ARGS:-}"
REGISTRY_BIN="${PODLOCK_CI_REGISTRY_BIN:-/usr/bin/docker-registry}"
REGISTRY_ANON_PORT="${PODLOCK_CI_REGISTRY_ANON_PORT:-5000}"
REGISTRY_AUTH_PORT="${PODLOCK_CI_REGISTRY_AUTH_PORT:-5001}"
REGISTRY_USER="podlock"
REGISTRY_PASSWORD="registry-secret"
REGISTRY_TIMEOUT="${PODLOCK_CI_REGISTRY_TIMEOUT:-30}"
LOCK_FILE="${PODLOCK_CI_LOCK:-$RUN_DIR/podlock-ci.lock}"

APT_PACKAGES=(docker.io docker-registry debootstrap skopeo umoci apache2-utils)
BASE_PACKAGES="python3,python3-venv,ca-certificates"
IMAGE_PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ----------------------------------------------------------------- helpers --
log()  { printf '[podlock-ci] %s\n' "$*" >&2; }
warn() { printf '[podlock-ci] WARNING: %s\n' "$*" >&2; }
die()  { printf '[podlock-ci] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "'$1' needs root (run it with sudo)"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            die "'$c' not found; run 'ci/engine.sh install' first"
    done
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pid_alive PID [SUBSTRING]: PID runs and its command line contains SUBSTRING.
pid_alive() {
    local pid="$1" want="${2:-}" cmd
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ -n "$cmd" ]] || return 1          # zombie
    [[ -z "$want" || "$cmd" == *"$want"* ]]
}

read_pid() { [[ -r "$1" ]] && tr -dc '0-9' <"$1" || true; }

# stop_pid PID NAME TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
    local pid="$1" name="$2" timeout="$3" i
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < timeout * 10; i++)); do
        [[ -d "/proc/$pid" ]] && pid_alive "$pid" || return 0
        sleep 0.1
    done
    warn "$name (pid $pid) ignored SIGTERM for ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

with_lock() {
    # Serialise concurrent invocations (parallel CI jobs, xdist workers).
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec 9>"$LOCK_FILE"
    if ! flock -n 9; then
        log "another ci/engine.sh holds $LOCK_FILE; waiting (max 900s)"
        flock -w 900 9 || die "timed out waiting for $LOCK_FILE"
    fi
}

docker_ok() { timeout 10 "$DOCKER" info >/dev/null 2>&1; }

# ----------------------------------------------------------------- install --
pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

pkg_candidate() {
    LC_ALL=C apt-cache policy "$1" 2>/dev/null | awk '/^ *Candidate:/ { print $2; exit }'
}

cmd_install() {
    local missing=() unavailable=() p cand
    for p in "${APT_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "install: all packages already installed (${APT_PACKAGES[*]}); skipping apt"
        return 0
    fi
    need_root install
    log "install: missing packages: ${missing[*]}"

    check_candidates() {
        unavailable=()
        for p in "${missing[@]}"; do
            cand=$(pkg_candidate "$p")
            if [[ -z "$cand" || "$cand" == "(none)" ]]; then
                unavailable+=("$p")
            else
                log "install:   $p -> $cand"
            fi
        done
    }
    check_candidates
    if ((${#unavailable[@]} > 0)); then
        log "install: no apt candidate for: ${unavailable[*]}; running apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
            warn "apt-get update failed (continuing with existing lists)"
        check_candidates
    fi
    if ((${#unavailable[@]} > 0)); then
        for p in "${unavailable[@]}"; do
            printf '[podlock-ci] ERROR: package %s is not available from the configured apt sources\n' "$p" >&2
            if [[ -n "$(LC_ALL=C apt-cache policy "$p" 2>/dev/null)" ]]; then
                LC_ALL=C apt-cache policy "$p" >&2 || true
            else
                printf '[podlock-ci]        (apt-cache policy knows no package named %s)\n' "$p" >&2
            fi
        done
        die "install: unavailable packages: ${unavailable[*]}"
    fi

    # Never let the maintainer scripts start the docker/registry services
    # (no systemd here; we start our own instances with our own flags).
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
        # shellcheck disable=SC2064
        trap "rm -f '$policy'" EXIT
    fi
    log "install: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >&2
    if ((created_policy)); then
        rm -f "$policy"
        trap - EXIT
    fi
    for p in "${missing[@]}"; do
        pkg_installed "$p" || die "install: $p is still not installed after apt-get"
    done
    log "install: done"
}

# ------------------------------------------------------------ start-docker --
dockerd_log_tail() {
    log "---- last 40 lines of $DOCKERD_LOG ----"
    tail -n 40 "$DOCKERD_LOG" >&2 2>/dev/null || true
    log "---- end of $DOCKERD_LOG ----"
}

# launch_dockerd DRIVER; returns 0 when `docker info` works, 2 when dockerd
# died with a storage-driver error, 1 otherwise.
launch_dockerd() {
    local driver="$1" pid="" deadline
    [[ -f "$DOCKERD_LOG" ]] && mv -f "$DOCKERD_LOG" "$DOCKERD_LOG.1"
    log "start-docker: starting dockerd (storage driver $driver), log $DOCKERD_LOG"
    mkdir -p "$(dirname "$DOCKERD_PIDFILE")"
    # setsid: detach from the caller's session so that a CI runner killing the
    # caller's process group does not take the daemon down with it.
    # 9>&-: do not leak the flock fd, or the daemon holds the lock forever.
    setsid nohup dockerd --iptables=false --bridge=none \
        --storage-driver="$driver" --pidfile="$DOCKERD_PIDFILE" "${DOCKERD_EXTRA_ARGS[@]}" \
        </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- &
    pid=$!
    deadline=$((SECONDS + DOCKERD_TIMEOUT))
    while ((SECONDS < deadline)); do
        if docker_ok; then
            log "start-docker: dockerd is up (pid $(read_pid "$DOCKERD_PIDFILE"), driver $driver)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null && ! pid_alive "$(read_pid "$DOCKERD_PIDFILE")" dockerd; then
            if grep -qiE 'graphdriver|driver not supported|overlay.*(not supported|fail|error|invalid)' "$DOCKERD_LOG" 2>/dev/null; then
                return 2
            fi
            return 1
        fi
        sleep 0.5
    done
    return 1
}

cmd_start_docker() {
    if docker_ok; then
        log "start-docker: docker engine already running ($("$DOCKER" info -f '{{.ServerVersion}}, driver {{.Driver}}' 2>/dev/null || echo '?'))"
        return 0
    fi
    need_root start-docker
    need_cmd dockerd "$DOCKER" setsid
    local old rc=0
    old=$(read_pid "$DOCKERD_PIDFILE")
    if pid_alive "$old" dockerd; then
        log "start-docker: dockerd pid $old exists but is not answering yet; waiting"
        local deadline=$((SECONDS + DOCKERD_TIMEOUT))
        while ((SECONDS < deadline)); do
            docker_ok && { log "start-docker: dockerd is up"; return 0; }
            pid_alive "$old" dockerd || break
            sleep 0.5
        done
        pid_alive "$old" dockerd && { dockerd_log_tail; die "start-docker: dockerd pid $old does not answer after ${DOCKERD_TIMEOUT}s"; }
    fi

    local driver="${STORAGE_DRIVER:-overlay2}"
    launch_dockerd "$driver" || rc=$?
    if ((rc == 2)) && [[ -z "$STORAGE_DRIVER" && "$driver" == overlay2 ]]; then
        dockerd_log_tail
        warn "*****************************************************************"
        warn "* dockerd failed to start with the overlay2 storage driver.      *"
        warn "* FALLING BACK TO vfs: every layer is a full copy, builds are    *"
        warn "* much slower and use much more disk. Set                        *"
        warn "* PODLOCK_CI_STORAGE_DRIVER to choose a driver explicitly.       *"
        warn "*****************************************************************"
        driver=vfs rc=0
        launch_dockerd "$driver" || rc=$?
    fi
    if ((rc != 0)); then
        dockerd_log_tail
        die "start-docker: docker engine did not come up within ${DOCKERD_TIMEOUT}s (driver $driver)"
    fi
}

# -------------------------------------------------------------- base-image --
# Print the first Debian mirror URI that serves $SUITE, from deb822 *.sources
# or one-line *.list files (PODLOCK_CI_MIRROR overrides).
apt_mirror() {
    if [[ -n "${PODLOCK_CI_MIRROR:-}" ]]; then
        printf '%s\n' "$PODLOCK_CI_MIRROR"
        return 0
    fi
    local f uri
    for f in "$APT_ETC"/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" &&
                    (" " suites " ") ~ ("[ \t]" suite "[ \t]") && uris != "" &&
                    uris !~ /security/) {
                    gsub(/^[ \t]+/, "", uris)
                    split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
                }
                types = ""; suites = ""; uris = ""; enabled = ""; key = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[A-Za-z0-9-]+:/ {
                key = tolower(substr($0, 1, index($0, ":") - 1))
                val = substr($0, index($0, ":") + 1); gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "types") types = val
                else if (key == "suites") suites = val
                else if (key == "uris") uris = val
                else if (key == "enabled") enabled = tolower(val)
                next
            }
            /^[ \t]/ {   # continuation line
                val = $0; gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "suites") suites = suites " " val
                else if (key == "uris") uris = uris " " val
                else if (key == "types") types = types " " val
            }
            END { if (!found) flush() }' "$f")
        [[ -n "$uri" ]] && { printf '%s\n' "$uri"; return 0; }
    done
    for f in "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            /^[ \t]*deb[ \t]/ {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite && $i !~ /security/) { print $i; exit }
            }' "$f")
        [[ -n "$uri" ]] && { printf '%s\n' "$uri"; return 0; }
    done
    return 1
}

mounts_under() {
    findmnt -rn -o TARGET | awk -v d="$1/" 'index($0 "/", d) == 1' | sort -r
}

# Unmount everything debootstrap may have left mounted under DIR (/proc, /sys,
# bind-mounted device nodes); fail rather than ever deleting across a mount.
unmount_under() {
    local dir="$1" m
    while read -r m; do
        [[ -n "$m" ]] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
    done < <(mounts_under "$dir")
    [[ -z "$(mounts_under "$dir")" ]] || die "still mounted under $dir: $(mounts_under "$dir" | tr '\n' ' ')"
}

cleanup_rootfs_dir() {
    local dir="$1"
    [[ -n "$dir" && -d "$dir" ]] || return 0
    unmount_under "$dir"
    rm -rf --one-file-system "$dir"
}

build_rootfs_tar() {
    need_cmd debootstrap
    local mirror work
    mirror=$(apt_mirror) || die "base-image: cannot find a Debian mirror serving '$SUITE' in /etc/apt (set PODLOCK_CI_MIRROR)"
    mkdir -p "$CACHE_DIR"
    work=$(mktemp -d "$CACHE_DIR/rootfs-$SUITE.work.XXXXXX")
    # shellcheck disable=SC2064
    trap "cleanup_rootfs_dir '$work/root'; rm -rf '$work'" EXIT
    log "base-image: debootstrap --variant=minbase --include=$BASE_PACKAGES $SUITE from $mirror (~1 min)"
    local keyring=() t0
    t0=$(now)
    [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "${keyring[@]}" \
        "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        [[ -r "$work/root/debootstrap/debootstrap.log" ]] && tail -n 30 "$work/root/debootstrap/debootstrap.log" >&2
        die "base-image: debootstrap failed (see above)"
    fi
    log "base-image: debootstrap done in $(elapsed "$t0")s"
    # Leave nothing mounted, then drop caches/logs and host-specific files.
    unmount_under "$work/root"
    local r="${work:?}/root"
    rm -rf --one-file-system "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old \
        "$r"/var/lib/dpkg/*-old "$r"/tmp/* "$r"/var/tmp/* "${r:?}"/dev/* "$r"/run/* \
        "$r"/debootstrap
    mkdir -p "$r"/var/lib/apt/lists/partial "$r"/var/cache/apt/archives/partial
    find "$r"/var/log -type f -delete
    : >"$r"/etc/resolv.conf
    : >"$r"/etc/hostname
    rm -f "$r"/etc/machine-id "$r"/var/lib/dbus/machine-id
    log "base-image: writing $ROOTFS_TAR"
    t0=$(now)
    tar -C "$r" --sort=name --numeric-owner --xattrs -cf "$work/rootfs.tar" .
    mv -f "$work/rootfs.tar" "$ROOTFS_TAR"
    log "base-image: rootfs tarball written in $(elapsed "$t0")s ($(du -h "$ROOTFS_TAR" | cut -f1))"
    cleanup_rootfs_dir "$r"
    rm -rf "$work"
    trap - EXIT
}

# save_tar_for NAME: where `docker save` of NAME goes. The default image goes
# to base-<suite>.docker.tar; other names get their own file.
save_tar_for() {
    if [[ "$1" == "$BASE_IMAGE_DEFAULT" ]]; then
        printf '%s\n' "$BASE_SAVE_TAR"
    else
        printf '%s/base-%s-%s.docker.tar\n' "$CACHE_DIR" "$SUITE" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_')"
    fi
}

save_base_tar() {
    local name="$1" id saved_id="" out t0
    out=$(save_tar_for "$name")
    id=$("$DOCKER" image inspect -f '{{.Id}}' "$name")
    [[ -r "$out.id" ]] && saved_id=$(<"$out.id")
    if [[ -s "$out" && "$saved_id" == "$id $name" ]]; then
        return 0
    fi
    log "base-image: docker save $name -> $out"
    t0=$(now)
    mkdir -p "$CACHE_DIR"
    "$DOCKER" save -o "$out.tmp" "$name"
    chmod 0644 "$out.tmp"   # daemonless tests may run unprivileged
    mv -f "$out.tmp" "$out"
    printf '%s %s\n' "$id" "$name" >"$out.id"
    log "base-image: saved in $(elapsed "$t0")s"
}

cmd_base_image() {
    local name="${1:-$BASE_IMAGE_DEFAULT}"
    cmd_start_docker
    if "$DOCKER" image inspect "$name" >/dev/null 2>&1; then
        log "base-image: $name already present ($("$DOCKER" image inspect -f '{{.Id}}' "$name" | cut -c1-19))"
        save_base_tar "$name"
        return 0
    fi
    need_root base-image
    if [[ -s "$ROOTFS_TAR" ]]; then
        log "base-image: reusing cached rootfs $ROOTFS_TAR"
    else
        build_rootfs_tar
    fi
    log "base-image: docker import $ROOTFS_TAR as $name"
    local t0
    t0=$(now)
    "$DOCKER" import \
        --change "ENV $IMAGE_PATH_ENV" \
        --change 'CMD ["/usr/bin/python3"]' \
        --message "podlock CI base: debootstrap minbase $SUITE + $BASE_PACKAGES" \
        "$ROOTFS_TAR" "$name" >/dev/null
    log "base-image: imported in $(elapsed "$t0")s"
    save_base_tar "$name"
    log "base-image: $name ready ($("$DOCKER" image inspect -f '{{.Size}}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# ---------------------------------------------------------- start-registry --
http_code() {
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

write_registry_config() {
    local kind="$1" port="$2" dir="$3"
    mkdir -p "$dir/storage"
    {
        cat <<EOF
# generated by ci/engine.sh - podlock CI registry ($kind)
version: 0.1
log:
  level: info
  fields:
    service: podlock-registry-$kind
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  # no blobdescriptor cache: it keeps deleted blobs "present" and the tests
  # delete and re-push.
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: podlock-ci-$kind-not-a-secret
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
        if [[ "$kind" == auth ]]; then
            cat <<EOF
auth:
  htpasswd:
    realm: podlock-registry
    path: $dir/htpasswd
EOF
        fi
    } >"$dir/config.yml.tmp"
    mv -f "$dir/config.yml.tmp" "$dir/config.yml"
}

start_one_registry() {
    local kind="$1" port="$2" want="$3"
    local dir="$RUN_DIR/podlock-registry-$kind" url="http://127.0.0.1:$port/v2/"
    local code pid
    code=$(http_code "$url")
    if [[ "$code" == "$want" ]]; then
        log "start-registry: $kind registry already answers $url ($code)"
        return 0
    fi
    pid=$(read_pid "$dir/registry.pid")
    if pid_alive "$pid" docker-registry; then
        log "start-registry: $kind registry pid $pid runs but $url answers '$code'; restarting it"
        stop_pid "$pid" "$kind registry" 10
    elif [[ -n "$code" && "$code" != "000" ]]; then
        die "start-registry: port $port is taken by something else ($url answers $code, want $want)"
    fi
    if [[ "$kind" == auth ]]; then
        mkdir -p "$dir"
        if ! htpasswd -vb "$dir/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" >/dev/null 2>&1; then
            htpasswd -Bbc "$dir/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" 2>/dev/null ||
                die "start-registry: htpasswd -B failed"
        fi
    fi
    write_registry_config "$kind" "$port" "$dir"
    log "start-registry: starting $kind registry on 127.0.0.1:$port (dir $dir)"
    [[ -f "$dir/registry.log" ]] && mv -f "$dir/registry.log" "$dir/registry.log.1"
    # The inner shell records its own pid and execs the registry, so the pid
    # file is right whether or not setsid had to fork.
    # 9>&-: do not leak the flock fd (see launch_dockerd).
    # shellcheck disable=SC2016
    setsid nohup bash -c 'echo $$ >"$1"; exec "$2" serve "$3"' _ \
        "$dir/registry.pid" "$REGISTRY_BIN" "$dir/config.yml" \
        </dev/null >>"$dir/registry.log" 2>&1 9>&- &
    local deadline=$((SECONDS + REGISTRY_TIMEOUT))
    while ((SECONDS < deadline)); do
        code=$(http_code "$url")
        if [[ "$code" == "$want" ]]; then
            log "start-registry: $kind registry up at $url ($code, pid $(read_pid "$dir/registry.pid"))"
            return 0
        fi
        pid=$(read_pid "$dir/registry.pid")
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            tail -n 20 "$dir/registry.log" >&2 || true
            die "start-registry: $kind registry exited (log $dir/registry.log)"
        fi
        sleep 0.2
    done
    tail -n 20 "$dir/registry.log" >&2 || true
    die "start-registry: $url did not answer $want within ${REGISTRY_TIMEOUT}s (last: '$code')"
}

cmd_start_registry() {
    [[ -x "$REGISTRY_BIN" ]] || die "$REGISTRY_BIN not found; run 'ci/engine.sh install' first"
    need_cmd curl htpasswd setsid
    start_one_registry anon "$REGISTRY_ANON_PORT" 200
    start_one_registry auth "$REGISTRY_AUTH_PORT" 401
}

# --------------------------------------------------------------- push-base --
cmd_push_base() {
    local name="${1:-$BASE_IMAGE_DEFAULT}"
    need_cmd skopeo
    cmd_start_docker
    cmd_start_registry
    "$DOCKER" image inspect "$name" >/dev/null 2>&1 || cmd_base_image "$name"
    log "push-base: $name -> 127.0.0.1:$REGISTRY_ANON_PORT and 127.0.0.1:$REGISTRY_AUTH_PORT"
    skopeo copy -q --dest-tls-verify=false "docker-daemon:$name" \
        "docker://127.0.0.1:$REGISTRY_ANON_PORT/$name" >&2
    skopeo copy -q --dest-tls-verify=false \
        --dest-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" "docker-daemon:$name" \
        "docker://127.0.0.1:$REGISTRY_AUTH_PORT/$name" >&2
}

# -------------------------------------------------------------- up / down --
cmd_up() {
    local t0 t step total
    total=$(now)
    for step in install start-docker base-image start-registry; do
        t0=$(now)
        log "==> $step"
        case "$step" in
            install) cmd_install ;;
            start-docker) cmd_start_docker ;;
            base-image) cmd_base_image ;;
            start-registry) cmd_start_registry ;;
        esac
        t=$(elapsed "$t0")
        log "<== $step done in ${t}s"
    done
    log "up: everything ready in $(elapsed "$total")s"
    cmd_status >&2
}

cmd_down() {
    local kind dir pid
    for kind in anon auth; do
        dir="$RUN_DIR/podlock-registry-$kind"
        pid=$(read_pid "$dir/registry.pid")
        if pid_alive "$pid" docker-registry; then
            stop_pid "$pid" "$kind registry" 10
        else
            log "down: $kind registry not running (by us)"
        fi
        rm -f "$dir/registry.pid"
    done
    pid=$(read_pid "$DOCKERD_PIDFILE")
    if pid_alive "$pid" dockerd; then
        stop_pid "$pid" dockerd 40
        rm -f "$DOCKERD_PIDFILE"
    else
        log "down: no dockerd started by ci/engine.sh is running"
    fi
    log "down: done (caches kept in $CACHE_DIR, registry storage kept in $RUN_DIR/podlock-registry-*)"
}

cmd_status() {
    local ok=0 code
    if docker_ok; then
        echo "docker:   up ($("$DOCKER" info -f 'server {{.ServerVersion}}, driver {{.Driver}}, root {{.DockerRootDir}}' 2>/dev/null))"
        if "$DOCKER" image inspect "$BASE_IMAGE_DEFAULT" >/dev/null 2>&1; then
            echo "image:    $BASE_IMAGE_DEFAULT present"
        else
            echo "image:    $BASE_IMAGE_DEFAULT MISSING"; ok=1
        fi
    else
        echo "docker:   DOWN"; ok=1
    fi
    [[ -s "$ROOTFS_TAR" ]] && echo "rootfs:   $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))" || echo "rootfs:   (no cache)"
    [[ -s "$BASE_SAVE_TAR" ]] && echo "save:     $BASE_SAVE_TAR ($(du -h "$BASE_SAVE_TAR" | cut -f1))" || echo "save:     (none)"
    code=$(http_code "http://127.0.0.1:$REGISTRY_ANON_PORT/v2/")
    echo "registry: anon 127.0.0.1:$REGISTRY_ANON_PORT /v2/ -> ${code:-none}"
    [[ "$code" == 200 ]] || ok=1
    code=$(http_code "http://127.0.0.1:$REGISTRY_AUTH_PORT/v2/")
    echo "registry: auth 127.0.0.1:$REGISTRY_AUTH_PORT /v2/ -> ${code:-none} (user $REGISTRY_USER)"
    [[ "$code" == 401 ]] || ok=1
    return "$ok"
}

usage() {
    cat >&2 <<EOF
usage: ci/engine.sh COMMAND [ARGS]

  install              apt-get install the missing ones of: ${APT_PACKAGES[*]}
  start-docker         start dockerd (overlay2, vfs fallback) unless 'docker info' works
  base-image [NAME]    build/import the base image (default $BASE_IMAGE_DEFAULT)
  start-registry       anonymous registry on 127.0.0.1:$REGISTRY_ANON_PORT, htpasswd one on 127.0.0.1:$REGISTRY_AUTH_PORT
  push-base [NAME]     skopeo-copy the base image into both registries
  up                   install + start-docker + base-image + start-registry (timed)
  down                 stop the registries and the dockerd started by this script
  status               print the state of every component (exit 1 if one is missing)
EOF
}

main() {
    # Make INT/TERM run the EXIT traps (temporary policy-rc.d, debootstrap dir).
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        install | start-docker | base-image | start-registry | push-base | up | down)
            with_lock ;;
    esac
    case "$cmd" in
        install) cmd_install ;;
        start-docker) cmd_start_docker ;;
        base-image) cmd_base_image "$@" ;;
        start-registry) cmd_start_registry ;;
        push-base) cmd_push_base "$@" ;;
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        -h | --help | help) usage ;;
        "") usage; exit 2 ;;
        *) usage; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
