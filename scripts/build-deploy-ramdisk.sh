#!/usr/bin/env bash
# Builds the deploy ramdisk that lab machines network-boot:
#
#   OUTDIR/ipa.kernel     the Debian kernel (linux-image-amd64), copied from /boot
#   OUTDIR/ipa.initramfs  a small busybox initramfs (gzip'd newc cpio)
#   OUTDIR/ipa-venv       a venv holding the unmodified ironic-python-agent
#
# The initramfs holds no distribution: its /init mounts the host's root, which
# QEMU exports read-only over virtio-9p with the mount tag "hostroot"
#   -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
#   -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
# (multidevs=remap is required: the host's / spans several file systems -
# /proc, /sys, /dev, /run - whose inode numbers collide over 9p without it,
# and the guest then loses the mounts init makes on those directories.)
# puts a tmpfs overlay on it so the agent can write, brings up DHCP on every
# NIC and runs OUTDIR/ipa-venv/bin/ironic-python-agent in a chroot of it. So
# the agent sees the host's Python, its libraries and the disk tools installed
# here (qemu-img, parted, sgdisk, lshw, ...), and the venv must live at the
# same absolute path inside the machine as on the host: OUTDIR is resolved to
# an absolute path and baked into /init.
#
# Usage: scripts/build-deploy-ramdisk.sh [OUTDIR]   (default: var/images)
# Idempotent: a stamp per artefact records its inputs; only what changed is
# rebuilt. Needs root (apt-get, mknod).
set -euo pipefail

START=$(date +%s.%N)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=$(realpath -m "${1:-$REPO_ROOT/var/images}")
REQUIREMENTS="$SCRIPT_DIR/deploy-ramdisk-requirements.txt"
# Debian's interpreter, never a pyenv/virtualenv one from PATH: the venv's
# bin/python links to it and that link must resolve inside the machine too.
PYTHON=/usr/bin/python3

log() { printf '[build-deploy-ramdisk] %s\n' "$*"; }
die() { printf '[build-deploy-ramdisk] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (installs packages, creates device nodes)"
mkdir -p "$OUTDIR"

# ---------------------------------------------------------------------------
# 1. Host packages. The machine runs the host's own binaries through the
#    shared root, so everything the agent executes must be installed here.
# ---------------------------------------------------------------------------
PACKAGES=(
    # building the ramdisk
    linux-image-amd64 busybox-static kmod cpio gzip xz-utils zstd
    python3 python3-venv
    # udevd/udevadm (the agent settles udev and reads device properties)
    udev
    # standby.prepare_image: image conversion and writing
    qemu-utils coreutils
    # partitioning and config drive partitions
    parted gdisk fdisk util-linux e2fsprogs dosfstools
    # inventory and inspection
    lshw dmidecode iproute2 ethtool pciutils
    # cleaning: erase_devices_metadata / erase_devices, software RAID, NVMe
    hdparm nvme-cli mdadm smartmontools
    # misc commands the agent shells out to (file, fuser, hexdump, efibootmgr)
    file psmisc bsdextrautils efibootmgr
    # the ansible deploy interface: playbooks run over SSH as a sudoer
    # (openssh-server itself comes from scripts/install-openssh-server.sh,
    # which keeps Debian from starting a system sshd)
    sudo
)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    # mdadm asks debconf questions and other postinsts may want a tty
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages: all present"
fi

if [ -x "$SCRIPT_DIR/install-openssh-server.sh" ]; then
    "$SCRIPT_DIR/install-openssh-server.sh"
fi

# The key the conductor's ansible-playbook logs in to the ramdisk with (user
# "ansible"); the machine reads the public half through the shared root.
if [ ! -s "$OUTDIR/ansible_key" ] || [ ! -s "$OUTDIR/ansible_key.pub" ]; then
    log "ansible key: generating $OUTDIR/ansible_key"
    rm -f "$OUTDIR/ansible_key" "$OUTDIR/ansible_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "swift-ironic deploy ramdisk" -f "$OUTDIR/ansible_key"
else
    log "ansible key: present"
fi

# ---------------------------------------------------------------------------
# 2. Kernel: the newest /boot/vmlinuz-* (its modules are in /lib/modules,
#    which the machine sees through the shared root).
# ---------------------------------------------------------------------------
KERNEL_SRC=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$KERNEL_SRC" ] || die "no /boot/vmlinuz-* (is linux-image-amd64 installed?)"
KVER=${KERNEL_SRC#/boot/vmlinuz-}
[ -d "/lib/modules/$KVER" ] || die "/lib/modules/$KVER missing for $KERNEL_SRC"

sha() { sha256sum "$@" | awk '{print $1}'; }
stamp_ok() { [ -f "$1" ] && [ -f "$2" -o -d "$2" ] && [ "$(cat "$1")" = "$3" ]; }

KERNEL_INPUTS="kver=$KVER kernel=$(sha "$KERNEL_SRC")"
if stamp_ok "$OUTDIR/.ipa.kernel.stamp" "$OUTDIR/ipa.kernel" "$KERNEL_INPUTS"; then
    log "kernel $KVER: up to date"
else
    log "kernel: copying $KERNEL_SRC"
    cp "$KERNEL_SRC" "$OUTDIR/ipa.kernel.tmp"
    mv "$OUTDIR/ipa.kernel.tmp" "$OUTDIR/ipa.kernel"
    printf '%s' "$KERNEL_INPUTS" >"$OUTDIR/.ipa.kernel.stamp"
fi

# ---------------------------------------------------------------------------
# 3. The agent's venv. Rebuilt from scratch when the requirements or the
#    interpreter change (a venv cannot be moved or upgraded in place safely).
# ---------------------------------------------------------------------------
VENV="$OUTDIR/ipa-venv"
PYVER=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
VENV_INPUTS="python=$PYVER requirements=$(sha "$REQUIREMENTS") path=$VENV"
if stamp_ok "$OUTDIR/.ipa-venv.stamp" "$VENV/bin/ironic-python-agent" "$VENV_INPUTS"; then
    log "venv: up to date ($(grep -i '^ironic-python-agent' "$REQUIREMENTS"))"
else
    log "venv: creating $VENV with $PYTHON $PYVER"
    rm -rf "$VENV" "$OUTDIR/.ipa-venv.stamp"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    log "venv: pip install -r $(basename "$REQUIREMENTS")"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
    "$VENV/bin/python" -c 'import ironic_python_agent.agent' \
        || die "ironic-python-agent does not import in $VENV"
    # Byte-compile now: the machine's view of the venv is read-only (writes
    # would land in its tmpfs overlay), and compiling on every boot is slow.
    "$VENV/bin/python" -m compileall -q "$VENV/lib" >/dev/null || true
    printf '%s' "$VENV_INPUTS" >"$OUTDIR/.ipa-venv.stamp"
fi

# ---------------------------------------------------------------------------
# 4. The initramfs: busybox, the modules needed to reach the shared root and
#    the network, and /init. Everything else (udev, the agent, further
#    modules) comes from the shared root.
# ---------------------------------------------------------------------------
# Modules whose drivers are =m in Debian's config and that must be loaded
# before the root is there: PCI virtio transport, NIC and disk drivers, 9p
# and overlayfs. Dependencies are resolved below, in order.
INIT_MODULES=(virtio_pci virtio_net virtio_blk virtio_scsi sd_mod e1000
              9pnet_virtio 9p overlay)
SCRIPT_HASH=$(sha "${BASH_SOURCE[0]}")
BUSYBOX_VER=$(dpkg-query -W -f='${Version}' busybox-static)
INITRAMFS_INPUTS="kver=$KVER script=$SCRIPT_HASH busybox=$BUSYBOX_VER venv=$VENV"

if stamp_ok "$OUTDIR/.ipa.initramfs.stamp" "$OUTDIR/ipa.initramfs" "$INITRAMFS_INPUTS"; then
    log "initramfs: up to date"
else
    log "initramfs: building for kernel $KVER"
    STAGE=$(mktemp -d "$OUTDIR/.initramfs-stage.XXXXXX")
    trap 'rm -rf "$STAGE"' EXIT
    mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,run,tmp,etc,newroot,lower,rw,lib/modules}
    cp /bin/busybox "$STAGE/bin/busybox"
    # The kernel opens /dev/console for init's stdio before anything is
    # mounted: without this node init would run with no output at all.
    mknod -m 600 "$STAGE/dev/console" c 5 1
    mknod -m 666 "$STAGE/dev/null" c 1 3

    # Resolve module dependencies for the target kernel, keep the order
    # modprobe would use, drop duplicates and built-ins, decompress.
    : >"$STAGE/lib/modules/load-order"
    for m in "${INIT_MODULES[@]}"; do
        if ! deps=$(modprobe --show-depends -S "$KVER" "$m" 2>/dev/null); then
            log "initramfs: WARNING: kernel $KVER has no module $m, skipped"
            continue
        fi
        while read -r kind path _rest; do
            [ "$kind" = insmod ] || continue          # "builtin X" lines
            name=$(basename "$path")
            name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
            grep -qx "$name" "$STAGE/lib/modules/load-order" && continue
            case "$path" in
                *.ko.xz)  xz -dc "$path" >"$STAGE/lib/modules/$name" ;;
                *.ko.zst) zstd -qdc "$path" >"$STAGE/lib/modules/$name" ;;
                *.ko.gz)  gzip -dc "$path" >"$STAGE/lib/modules/$name" ;;
                *)        cp "$path" "$STAGE/lib/modules/$name" ;;
            esac
            echo "$name" >>"$STAGE/lib/modules/load-order"
        done <<<"$deps"
    done
    log "initramfs: modules: $(tr '\n' ' ' <"$STAGE/lib/modules/load-order")"

    # DHCP hook for busybox udhcpc: configures the address, the default route
    # and the new root's resolv.conf.
    cat >"$STAGE/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc calls this with $1 = deconfig|bound|renew|leasefail|nak
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip -4 addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ]; then
            for r in $router; do
                ip -4 route replace default via "$r" dev "$interface" && break
            done
        fi
        if [ -n "$dns" ] && [ -d /newroot/etc ]; then
            rm -f /newroot/etc/resolv.conf
            for d in $dns; do echo "nameserver $d"; done >/newroot/etc/resolv.conf
        fi
        echo "init: $interface: $1 $ip/${mask:-24} router ${router:-none} dns ${dns:-none}"
        ;;
esac
exit 0
EOF
    chmod 755 "$STAGE/etc/udhcpc.script"

    # /init. @VENV@ is replaced by the venv's absolute path below.
    cat >"$STAGE/init" <<'EOF'
#!/bin/busybox sh
# Deploy ramdisk init: mount the host's root (virtio-9p tag "hostroot")
# read-only under a tmpfs overlay and run ironic-python-agent in a chroot.
# Kernel options of its own: rd.debug (trace this script), rd.shell (a shell
# on the console instead of the agent; the agent can be started from it).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -qw rd.debug /proc/cmdline && set -x
uptime_s() { cut -d' ' -f1 /newroot/proc/uptime 2>/dev/null || cut -d' ' -f1 /proc/uptime; }
echo "init: deploy ramdisk starting on $(uname -r), uptime $(uptime_s)s"
echo 4 >/proc/sys/kernel/printk   # keep kernel chatter off the agent's log

console_shell() {
    echo "init: a shell on the console; the root is /newroot (chroot /newroot ...)"
    while true; do setsid -c /bin/sh -l || sh; sleep 1; done
}
fatal() {
    echo "init: FATAL: $*"
    console_shell   # keep the machine up for a person to look at
}

for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m" 2>/dev/null || true   # EEXIST when already loaded
done

# 1. The shared root, read-only. cache=loose is safe on a read-only export
#    and makes Python imports over 9p several times faster.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose \
    hostroot /lower || fatal "cannot mount 9p tag hostroot (is -fsdev/-device virtio-9p-pci given?)"

# 2. A writable overlay on it: whatever the agent writes stays in RAM.
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
    || fatal "cannot mount the overlay"
# Host state that must not leak into the machine.
rm -f /newroot/etc/resolv.conf /newroot/etc/machine-id /newroot/etc/mtab
ln -s ../proc/self/mounts /newroot/etc/mtab
: >/newroot/etc/machine-id
hostname ipa-ramdisk
echo ipa-ramdisk >/newroot/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tipa-ramdisk\n' >/newroot/etc/hosts

# 3. Network: DHCP on every NIC, in parallel; udhcpc stays in the background
#    to renew the lease. The hook writes /newroot/etc/resolv.conf.
ip link set lo up
for n in /sys/class/net/*; do
    i=${n##*/}
    [ "$i" = lo ] && continue
    ip link set "$i" up
    udhcpc -i "$i" -s /etc/udhcpc.script -t 10 -T 2 -A 5 -b -p "/run/udhcpc.$i.pid" &
done
for _ in $(seq 1 40); do   # wait up to 20 s for one IPv4 address
    ip -4 -o addr show scope global | grep -q inet && break
    sleep 0.5
done
ip -4 -o addr show scope global | grep -q inet || echo "init: WARNING: no DHCP lease yet"

# 4. The API file systems, moved (not re-mounted) into the new root.
for d in proc sys dev; do
    mount --move "/$d" "/newroot/$d" || fatal "cannot move /$d into the new root"
done
# Without multidevs=remap on the -fsdev, the host's /proc, /sys and /dev share
# inode numbers over 9p and the mounts just moved silently disappear.
[ -r /newroot/proc/cmdline ] \
    || fatal "/proc vanished from the new root: add multidevs=remap to QEMU's -fsdev option"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=755 tmpfs /newroot/run
# No tmpfs over /tmp: the overlay's upper layer already takes the writes, and a
# checkout under the host's /tmp (the venv with it) must stay visible.

# 5. udev from the shared root, so the agent sees device properties (and the
#    machine loads the rest of its modules from the host's /lib/modules).
# SYSTEMD_IGNORE_CHROOT: udevadm trigger/settle do nothing in a chroot
# otherwise (PID 1 stays in the initramfs, so the agent runs in one).
ROOTPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
in_root() {
    chroot /newroot /usr/bin/env -i PATH=$ROOTPATH HOME=/root LANG=C.UTF-8 \
        TERM=vt100 SYSTEMD_IGNORE_CHROOT=1 "$@"
}
if in_root test -x /lib/systemd/systemd-udevd; then
    echo "init: starting udevd"
    in_root /lib/systemd/systemd-udevd --daemon --resolve-names=never
    in_root udevadm trigger --type=subsystems --action=add
    in_root udevadm trigger --type=devices --action=add
    in_root udevadm settle --timeout=60 || echo "init: udevadm settle timed out"
else
    echo "init: no systemd-udevd in the shared root, going on without udev"
fi

# 6. The agent. It reads ipa-api-url and friends from /proc/cmdline itself.
IPA=@VENV@/bin/ironic-python-agent
in_root test -x "$IPA" || fatal "$IPA not found in the shared root"
echo "init: network: $(ip -4 -o addr show scope global | awk '{print $2, $4}' | tr '\n' ' ')"
grep -qw rd.shell /newroot/proc/cmdline && console_shell
# SSH for the ansible deploy interface: user "ansible" with passwordless sudo
# and the lab's public key; fresh host keys per boot (never the host's own).
if in_root test -x /usr/sbin/sshd && [ -r /newroot@OUTDIR@/ansible_key.pub ]; then
    sed -i '/^ansible:/d' /newroot/etc/passwd /newroot/etc/shadow /newroot/etc/group
    echo 'ansible:x:1991:1991:ansible deploy:/home/ansible:/bin/sh' >>/newroot/etc/passwd
    echo 'ansible:x:1991:' >>/newroot/etc/group
    echo 'ansible:*:0:0:99999:7:::' >>/newroot/etc/shadow
    mkdir -p /newroot/home/ansible/.ssh /newroot/etc/sudoers.d /newroot/run/sshd
    cp /newroot@OUTDIR@/ansible_key.pub /newroot/home/ansible/.ssh/authorized_keys
    chown -R 1991:1991 /newroot/home/ansible
    chmod 700 /newroot/home/ansible/.ssh
    echo 'ansible ALL=(ALL) NOPASSWD: ALL' >/newroot/etc/sudoers.d/ansible
    chmod 440 /newroot/etc/sudoers.d/ansible
    rm -f /newroot/etc/ssh/ssh_host_*
    in_root ssh-keygen -A >/dev/null
    if in_root /usr/sbin/sshd -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
        -o PermitRootLogin=no -o UsePAM=no -o AllowUsers=ansible; then
        echo "init: sshd listening on port 22 (user ansible, key $(cut -d' ' -f3- /newroot@OUTDIR@/ansible_key.pub))"
    else
        echo "init: WARNING: sshd did not start"
    fi
fi

# Rescue: the agent's rescue.finalize_rescue writes the rescue user's password
# hash here, marks the machine rescued and exits (images built with
# diskimage-builder do the same with a systemd unit).
mkdir -p /newroot/etc/ipa-rescue-config
rescue_mode() {
    hash=$(cat /newroot/etc/ipa-rescue-config/ipa-rescue-password 2>/dev/null)
    [ -n "$hash" ] || fatal "rescued, but the agent left no rescue password"
    sed -i '/^rescue:/d' /newroot/etc/passwd /newroot/etc/shadow /newroot/etc/group
    echo 'rescue:x:1990:1990:rescue:/:/bin/sh' >>/newroot/etc/passwd
    echo 'rescue:x:1990:' >>/newroot/etc/group
    echo "rescue:$hash:0:0:99999:7:::" >>/newroot/etc/shadow
    scheme=${hash#\$}; scheme=${scheme%%\$*}
    echo "init: RESCUE MODE: the agent has stopped; log in as 'rescue' (crypt scheme \$$scheme\$)"
    while true; do
        if in_root test -x /sbin/agetty; then
            setsid chroot /newroot /sbin/agetty -L 115200 ttyS0 vt100
        else
            sleep 60
        fi
        sleep 1
    done
}
echo "init: uptime $(uptime_s)s, starting $IPA"
while true; do
    in_root "$IPA"
    rc=$?
    [ -e /newroot/etc/.rescued ] && rescue_mode
    echo "init: ironic-python-agent exited with status $rc at uptime $(uptime_s)s; restarting in 5 s"
    sleep 5
done
EOF
    sed -i -e "s|@VENV@|$VENV|g" -e "s|@OUTDIR@|$OUTDIR|g" "$STAGE/init"
    chmod 755 "$STAGE/init"

    (cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
        | gzip -9n >"$OUTDIR/ipa.initramfs.tmp"
    mv "$OUTDIR/ipa.initramfs.tmp" "$OUTDIR/ipa.initramfs"
    printf '%s' "$INITRAMFS_INPUTS" >"$OUTDIR/.ipa.initramfs.stamp"
    rm -rf "$STAGE"; trap - EXIT
fi

# ---------------------------------------------------------------------------
END=$(date +%s.%N)
log "done in $(awk -v s="$START" -v e="$END" 'BEGIN{printf "%.1f", e-s}') s"
log "  kernel    $OUTDIR/ipa.kernel     $(du -h "$OUTDIR/ipa.kernel" | cut -f1)  ($KVER)"
log "  initramfs $OUTDIR/ipa.initramfs  $(du -h "$OUTDIR/ipa.initramfs" | cut -f1)"
log "  venv      $VENV  $(du -sh "$VENV" | cut -f1)  ($("$VENV/bin/pip" show ironic-python-agent 2>/dev/null | awk '/^Version/{print "ironic-python-agent " $2}'))"
log "boot with: -kernel ipa.kernel -initrd ipa.initramfs -append 'console=ttyS0 ipa-api-url=...'"
log "           -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
