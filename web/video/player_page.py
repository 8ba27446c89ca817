"""A minimal self-contained WHEP player page (plain JavaScript, nothing fetched from elsewhere).

The page plays one stream, reads the latency timecode from the frames it
shows and publishes its state as `window.dfrPlayer` (frames shown, video size,
codec, latencies) for the RTCC wall, an officer's phone and the browser tests.
`?codec=vp8` or `?codec=h264` restricts what the browser offers.
"""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live video: __TITLE__</title>
<link rel="icon" href="data:,">
<style>
  html, body { margin: 0; height: 100%; background: #000; color: #eee;
               font: 14px system-ui, sans-serif; }
  video { width: 100%; height: 100%; object-fit: contain; background: #000; }
  #status { position: fixed; right: 8px; bottom: 8px; padding: 4px 8px;
            background: rgba(0, 0, 0, .6); border-radius: 4px; }
</style>
</head>
<body>
<video id="video" autoplay muted playsinline></video>
<div id="status">connecting</div>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const video = document.getElementById("video");
  const statusBox = document.getElementById("status");
  const forced = new URLSearchParams(location.search).get("codec");
  const player = window.dfrPlayer = {
    status: "connecting", error: null, codec: null, sessionUrl: null,
    frames: 0, width: 0, height: 0, latencies: [], lastCode: null, pc: null,
    stop, selectedPair,
  };

  function show(text) { player.status = text; statusBox.textContent = text; }

  function gathered(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  async function start() {
    const pc = player.pc = new RTCPeerConnection({ iceServers: [] });
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    if (forced && transceiver.setCodecPreferences) {
      const wanted = ["video/" + forced.toLowerCase(), "video/rtx"];
      transceiver.setCodecPreferences(RTCRtpReceiver.getCapabilities("video").codecs
        .filter((c) => wanted.includes(c.mimeType.toLowerCase())));
    }
    pc.ontrack = (event) => {
      video.srcObject = event.streams[0] || new MediaStream([event.track]);
    };
    pc.onconnectionstatechange = () => show(pc.connectionState);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 3000);
    const response = await fetch(config.whepUrl, {
      method: "POST", headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) {
      throw new Error("WHEP " + response.status + ": " + await response.text());
    }
    player.sessionUrl = new URL(response.headers.get("Location"), location.href).href;
    player.codec = response.headers.get("X-Video-Codec");
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  }

  async function stop() {
    const url = player.sessionUrl;
    player.sessionUrl = null;
    if (player.pc) player.pc.close();
    if (url) await fetch(url, { method: "DELETE" });
    show("stopped");
  }

  async function selectedPair() {
    if (!player.pc) return null;
    const stats = await player.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return { local: local && local.address, remote: remote && remote.address };
  }

  // The timecode layout of web/video/timecode.py: 16 x 4 blocks, bottom left.
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  function crc8(bytes) {
    let crc = 0;
    for (const byte of bytes) {
      crc ^= byte;
      for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
  }
  function readCode(width, height) {
    const block = Math.max(8, Math.floor(width / 80));
    const left = Math.floor(block / 2);
    const top = height - Math.floor(block / 2) - 4 * block;
    canvas.width = 16 * block; canvas.height = 4 * block;
    context.drawImage(video, left, top, 16 * block, 4 * block, 0, 0, 16 * block, 4 * block);
    const pixels = context.getImageData(0, 0, 16 * block, 4 * block).data;
    const bytes = new Uint8Array(8);
    for (let bit = 0; bit < 64; bit++) {
      const x = (bit % 16) * block + Math.floor(block / 2);
      const y = Math.floor(bit / 16) * block + Math.floor(block / 2);
      const p = (y * canvas.width + x) * 4;
      const luma = 0.299 * pixels[p] + 0.587 * pixels[p + 1] + 0.114 * pixels[p + 2];
      if (luma > 125.5) bytes[bit >> 3] |= 0x80 >> (bit & 7);
    }
    if (bytes[0] !== 0xb2 || crc8(bytes.subarray(1, 7)) !== bytes[7]) return null;
    const clockMs = ((bytes[1] << 24) >>> 0) + (bytes[2] << 16) + (bytes[3] << 8) + bytes[4];
    return { clockMs, frameIndex: (bytes[5] << 8) + bytes[6] };
  }

  function onFrame() {
    player.frames += 1;
    player.width = video.videoWidth;
    player.height = video.videoHeight;
    const code = player.width ? readCode(player.width, player.height) : null;
    if (code) {
      const now = Date.now() % 4294967296;
      const latency = (now - code.clockMs + 4294967296) % 4294967296;
      player.lastCode = code;
      player.latencies.push(latency);
      if (player.latencies.length > 600) player.latencies.shift();
    }
    if (player.frames % 15 === 0) {
      const recent = player.latencies.slice(-30).sort((a, b) => a - b);
      const median = recent.length ? recent[recent.length >> 1] + " ms" : "n/a";
      show(`${player.codec || ""} ${player.width}x${player.height} latency ${median}`);
    }
    video.requestVideoFrameCallback(onFrame);
  }
  video.requestVideoFrameCallback(onFrame);

  addEventListener("pagehide", () => {
    if (player.sessionUrl) fetch(player.sessionUrl, { method: "DELETE", keepalive: true });
  });
  start().catch((error) => { player.error = String(error); show("error: " + error); });
})();
</script>
</body>
</html>
"""


def player_html(stream_id: str, whep_url: str) -> str:
    """The player page for one stream, whose WHEP endpoint is `whep_url`."""
    config = json.dumps({"streamId": stream_id, "whepUrl": whep_url})
    # Nothing in the JSON may close the script element.
    config = config.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.replace("__TITLE__", html.escape(stream_id)).replace("__CONFIG__", config)
