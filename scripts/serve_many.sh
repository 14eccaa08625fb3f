#!/usr/bin/env bash
# Serve the dashboard from N Streamlit processes behind nginx on one port, each visitor kept on one process.
#   scripts/serve_many.sh [N] [PORT]      N: one per core by default; PORT: 8501
# Streamlit runs every session in one process (one core's worth of Python), so more processes use more cores:
# on 2 cores two processes served about twice the views per second (BENCHMARKS.md, "Server capacity").
# A session's websocket, uploads and media must reach the process holding it, so nginx routes by client
# address (ip_hash). It listens on 127.0.0.1 unless ATLAS_ADDRESS says otherwise (e.g. 0.0.0.0; SECURITY.md).
# Needs Debian's nginx (scripts/setup.sh --dev installs it). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-$(nproc)}
port=${2:-8501}
address=${ATLAS_ADDRESS:-127.0.0.1}
command -v nginx >/dev/null || { echo "nginx is not installed: sudo apt-get install nginx-light" >&2; exit 2; }
work=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT INT TERM

upstream=""
for i in $(seq 1 "$count"); do
  backend=$((port + i))
  .venv/bin/python scripts/serve.py --server.port "$backend" --server.address 127.0.0.1 &
  pids+=($!)
  upstream="$upstream    server 127.0.0.1:$backend;"$'\n'
done

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  client_max_body_size 200m;
  upstream atlas {
    ip_hash;
$upstream  }
  server {
    listen $address:$port;
    location / {
      proxy_pass http://atlas;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 86400;
      proxy_buffering off;
    }
  }
}
EOF
for i in $(seq 1 "$count"); do
  until .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$((port + i))/_stcore/health')" \
    2>/dev/null; do sleep 0.5; done
done
echo "SAE Atlas: $count server processes behind http://$address:$port"
nginx -c "$work/nginx.conf" -p "$work" -g "daemon off;" &
pids+=($!)
wait -n "${pids[@]}"
