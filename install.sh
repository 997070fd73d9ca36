#!/usr/bin/env bash
# Bare-metal install of minikube-py with systemd (also what vagrant/Vagrantfile provisions).
#
#   control plane:  ./install.sh --role control-plane --node-ip 192.168.56.10 [--iface eth1]
#                   (prints the join commands; --join-file F [--workers N] also writes them:
#                    F for a worker, F.2 .. F.N for N workers, F.control-plane)
#   more control planes: ./install.sh --role control-plane --node-ip 192.168.56.12 \
#                       --join https://192.168.56.10:6443 --token T --ca-cert-hash sha256:H \
#                       --certificate-key K   (its etcd member joins as a learner, promoted)
#                   (or --join-from F.control-plane; one at a time)
#   floating API address: add --vip 192.168.56.100 on every control plane (an unused address
#                   of their network): one host holds it by Lease (kube-vip's ARP mode), the
#                   api-servers' certificates name it, the printed join commands use it
#   worker:         ./install.sh --role worker --node-ip 192.168.56.11 [--iface eth1] \
#                       --server https://192.168.56.10:6443 --token T --ca-cert-hash sha256:H
#                   (or --join-from F: server, token and hash from a file the control plane
#                    wrote; one token per worker)
#
# Pass --node-ip/--iface explicitly on multi-homed hosts: on Vagrant every VM has the same
# NAT address 10.0.2.15 on eth0, and a node that advertises it is unreachable.
# Safe to run again. Units: /etc/systemd/system/minikube-py-*.service; env: /etc/minikube-py/.
set -euo pipefail
SRC="$(cd "$(dirname "$0")" && pwd)"
PREFIX=/opt/minikube-py
ETC=/etc/minikube-py
DATA=/var/lib/minikube-py

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

role="" node_ip="" iface="" node_name="$(hostname -s | tr 'A-Z' 'a-z')" server="" token="" hash="" join_file="" cert_key="" join_from="" workers=1 vip=""
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="$2"; shift 2 ;;
    --node-ip) node_ip="$2"; shift 2 ;;
    --iface) iface="$2"; shift 2 ;;
    --node-name) node_name="$2"; shift 2 ;;
    --server|--join) server="$2"; shift 2 ;;
    --certificate-key) cert_key="$2"; shift 2 ;;
    --token) token="$2"; shift 2 ;;
    --ca-cert-hash) hash="$2"; shift 2 ;;
    --join-file) join_file="$2"; shift 2 ;;
    --join-from) join_from="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --vip) vip="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root"
case "$role" in control-plane|worker) ;; *) die "--role control-plane|worker is required" ;; esac
command -v systemctl >/dev/null && [ -d /run/systemd/system ] \
  || die "systemd is not running here; use \`minikube-py up\` (or \`minikube-py join\`) instead"
[ "$role" = worker ] && [ -z "$join_from" ] && join_from="$join_file"  # its old name
if [ -n "$join_from" ]; then  # a join command written by the first control plane
  for _ in $(seq 300); do [ -s "$join_from" ] && break; sleep 2; done
  read -r -a words < "$join_from" || die "cannot read $join_from"
  for i in "${!words[@]}"; do
    case "${words[$i]}" in
      --server|--join) server="${words[$((i+1))]}" ;;
      --token) token="${words[$((i+1))]}" ;;
      --ca-cert-hash) hash="${words[$((i+1))]}" ;;
      --certificate-key) cert_key="${words[$((i+1))]}" ;;
      --vip) vip="${words[$((i+1))]}" ;;
    esac
  done
fi
if [ -z "$node_ip" ]; then
  node_ip="$(ip -4 route get 192.0.2.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
  echo "install.sh: --node-ip not given, using $node_ip (pass it explicitly on multi-homed hosts)"
fi

echo "==> packages"
# containernetworking-plugins: the node's conflist chains its portmap after mkp-bridge.
pkgs=(python3-venv docker.io iptables iproute2 busybox-static conntrack ca-certificates
      containernetworking-plugins)
[ "$role" = control-plane ] && pkgs+=(etcd-server etcd-client haproxy)
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q --no-install-recommends "${pkgs[@]}"
# Debian's etcd-server starts its own etcd on 2379/2380; ours replaces it.
systemctl disable --now etcd.service 2>/dev/null || true

echo "==> minikube-py into $PREFIX/venv"
mkdir -p "$PREFIX" "$ETC" "$DATA"
rm -rf "$PREFIX/src" && mkdir -p "$PREFIX/src"
tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./vagrant/.vagrant -cf - . | tar -C "$PREFIX/src" -xf -
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q "$PREFIX/src"
ln -sf "$PREFIX/venv/bin/minikube-py" /usr/local/bin/minikube-py
install -m 0644 "$SRC"/systemd/minikube-py-*.service /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now docker.service

if [ "$role" = control-plane ]; then
  echo "==> control plane on $node_ip"
  if [ -n "$server" ]; then
    # Another control plane (kubeadm join --control-plane): the shared PKI from the
    # certificates the first host uploaded, its etcd member added as a learner, its env
    # files (etcd.env, apiserver.env, agent.env) written by join.
    [ -n "$token" ] && [ -n "$hash" ] && [ -n "$cert_key" ] \
      || die "joining a control plane needs --join, --token, --ca-cert-hash and --certificate-key"
    minikube-py join --control-plane --server "$server" --token "$token" --ca-cert-hash "$hash" \
      --certificate-key "$cert_key" --node-name "$node_name" --node-ip "$node_ip" \
      ${iface:+--iface "$iface"} --systemd
    systemctl enable --now minikube-py-etcd
    # shellcheck disable=SC1091
    . "$ETC/apiserver.env"
    minikube-py etcd member promote "$node_name" --etcd-servers "${ETCD_SERVERS#*,}" \
      || die "etcd member $node_name was not promoted: journalctl -u minikube-py-etcd"
  else
    # etcd speaks client and peer TLS with certificates from its own CA (kubeadm's layout).
    minikube-py etcd certs --data-dir "$DATA/apiserver" --ip "$node_ip"
    printf 'MEMBER_NAME="%s"\nMEMBER_IP="%s"\nLISTEN_CLIENT_URLS="%s"\nINITIAL_CLUSTER="%s"\n' \
      "$node_name" "$node_ip" "https://127.0.0.1:2379,https://$node_ip:2379" \
      "$node_name=https://$node_ip:2380" > "$ETC/etcd.env"
    echo "APISERVER_ARGS=\"--advertise-address $node_ip --bind-address 0.0.0.0${vip:+ --tls-san $vip}\"" \
      > "$ETC/apiserver.env"
  fi
  echo "CONTROLLER_MANAGER_ARGS=\"--service-account-private-key-file $DATA/apiserver/pki/sa.key --root-ca-file $DATA/apiserver/pki/ca.crt\"" \
    > "$ETC/controller-manager.env"
  systemctl enable --now minikube-py-etcd minikube-py-apiserver minikube-py-scheduler \
    minikube-py-controller-manager
  for _ in $(seq 120); do [ -s "$DATA/apiserver/admin.conf" ] && break; sleep 1; done
  [ -s "$DATA/apiserver/admin.conf" ] || die "the api-server wrote no admin.conf: journalctl -u minikube-py-apiserver"
  ln -sf "$DATA/apiserver/admin.conf" "$ETC/admin.conf"
  if [ -z "$server" ] && [ ! -s "$DATA/nodes/$node_name/kubelet.conf" ]; then
    # The first host's agent joins as every other node does (kubeadm init's kubelet): its
    # own credential (system:node:NAME) and a serving certificate from the cluster CA, so
    # the api-server can verify it for logs and exec.
    own_join=""
    for _ in $(seq 60); do
      own_join="$(minikube-py token create --server "https://$node_ip:6443" --print-join-command \
        --ttl 10m --description "$node_name's own agent" 2>/dev/null)" && break
      sleep 2
    done
    [ -n "$own_join" ] || die "could not create a token for this host's agent: minikube-py token create"
    $own_join --node-name "$node_name" --node-ip "$node_ip" ${iface:+--iface "$iface"} --systemd \
      --register-with-taints node-role.kubernetes.io/control-plane:NoSchedule \
      || die "this host's agent could not join: $own_join"
  fi
  systemctl enable --now minikube-py-agent
  # kubeadm's mark-control-plane: the role label (NodeRestriction keeps the agent from
  # setting it; the NoSchedule taint it registered with, as join --control-plane's does).
  minikube-py node mark-control-plane "$node_name" --kubeconfig "$DATA/apiserver/admin.conf" \
    || die "could not label node $node_name: journalctl -u minikube-py-agent"
  if [ -n "$vip" ]; then  # a candidate for the floating address on the node's interface
    vip_iface="${iface:-$(ip -o -4 addr show | awk -v ip="$node_ip" 'index($4, ip "/") == 1 {print $2; exit}')}"
    [ -n "$vip_iface" ] || die "no interface has $node_ip: pass --iface"
    echo "VIP_ARGS=\"--address $vip --interface $vip_iface --identity $node_name\"" > "$ETC/vip.env"
    systemctl enable --now minikube-py-vip
  fi
  echo "DNS_ARGS=\"--bind-address $node_ip --advertise-address $node_ip\"" > "$ETC/dns.env"
  for _ in $(seq 60); do
    minikube-py dns-credentials --kubeconfig "$DATA/apiserver/admin.conf" \
      --output "$DATA/apiserver/dns.conf" --server "https://127.0.0.1:6443" 2>/dev/null && break
    sleep 2
  done
  [ -s "$DATA/apiserver/dns.conf" ] || die "could not write the DNS kubeconfig: minikube-py dns-credentials"
  systemctl enable --now minikube-py-dns
  echo "INGRESS_ARGS=\"--publish-address $node_ip\"" > "$ETC/ingress.env"
  minikube-py ingress-credentials --kubeconfig "$DATA/apiserver/admin.conf" \
    --output "$DATA/apiserver/ingress.conf" --server "https://127.0.0.1:6443" \
    || die "could not write the ingress kubeconfig: minikube-py ingress-credentials"
  systemctl enable --now minikube-py-ingress
  if [ -z "$server" ]; then
    # The metrics server runs on the first control plane only (as with `up`): one APIService
    # endpoint, its certificate for this address.
    echo "METRICS_SERVER_ARGS=\"--bind-address $node_ip\"" > "$ETC/metrics-server.env"
    minikube-py metrics-server-credentials --kubeconfig "$DATA/apiserver/admin.conf" \
      --output "$DATA/apiserver/metrics-server.conf" --server "https://127.0.0.1:6443" \
      --pki-dir "$DATA/apiserver/pki" --address "$node_ip" \
      || die "could not set up the metrics server: minikube-py metrics-server-credentials"
    systemctl enable --now minikube-py-metrics-server
    # A worker's join spends its token; a control plane's does not (it makes its node
    # credentials with the admin token of the shared PKI): one 2 h token serves them all.
    new_join() {  # a join command with a new token: $1 its TTL
      minikube-py token create --server "https://${vip:-$node_ip}:6443" --print-join-command --ttl "$1"
    }
    join_cmd=""
    for _ in $(seq 60); do join_cmd="$(new_join 24h 2>/dev/null)" && break; sleep 2; done
    [ -n "$join_cmd" ] || die "could not create a join token: minikube-py token create --server https://${vip:-$node_ip}:6443"
    cp_cmd="$(new_join 2h)" || die "could not create a control-plane token"
    cert_key="$(minikube-py upload-certs)" || die "could not upload the certificates: minikube-py upload-certs"
    if [ -n "$join_file" ]; then
      umask 077
      echo "$join_cmd" > "$join_file"
      for k in $(seq 2 "$workers"); do new_join 24h > "$join_file.$k" || die "no token for worker $k"; done
      echo "$cp_cmd --certificate-key $cert_key${vip:+ --vip $vip}" > "$join_file.control-plane"
    fi
    echo "==> done. kubectl: export KUBECONFIG=$ETC/admin.conf; workers join with:"
    echo "    $join_cmd --node-ip <WORKER_IP> --iface <IFACE>"
    read -r -a words <<< "$cp_cmd"  # minikube-py join --server S --token T --ca-cert-hash H
    echo "    control planes (within 2 h; later: minikube-py upload-certs, token create) with:"
    echo "    ./install.sh --role control-plane --join ${words[3]} --token ${words[5]} --ca-cert-hash ${words[7]} --certificate-key $cert_key${vip:+ --vip $vip} --node-ip <IP>"
  else
    echo "==> done: control plane $node_name joined $server"
  fi
else
  [ -n "$server" ] && [ -n "$token" ] && [ -n "$hash" ] || die "a worker needs --server, --token and --ca-cert-hash (or --join-from)"
  echo "==> joining $server as $node_name ($node_ip)"
  minikube-py join --server "$server" --token "$token" --ca-cert-hash "$hash" \
    --node-name "$node_name" --node-ip "$node_ip" ${iface:+--iface "$iface"} --systemd
  systemctl enable --now minikube-py-agent
  echo "==> done: node $node_name; check with kubectl get nodes on the control plane"
fi
