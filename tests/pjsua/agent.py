#!/usr/bin/env python3
"""A PJSIP (pjsua2) softphone for hotline's tests: registers as an agent
with digest authentication, optionally dials a feature code and records
what it hears, then unregisters or just exits.

Prints one JSON object per line on stdout (events the Rust test reads):
  {"event": "reg", "code": 200, "expires": 60}
  {"event": "call", "state": "CONFIRMED"} ... {"event": "call", "state": "DISCONNECTED", "code": 200}
  {"event": "done"}
Only 127.0.0.1 is used. Every wait is bounded.
"""
import argparse
import json
import sys
import time

import pjsua2 as pj


def emit(**kv):
    print(json.dumps(kv), flush=True)


class Account(pj.Account):
    def __init__(self, answer=None, answer_after=0.0):
        super().__init__()
        self.answer_after = answer_after
        self.reg = []
        # (record, play) for incoming calls, or None to refuse them.
        self.answer = answer
        self.incoming = []
        self.refused = 0

    def onIncomingCall(self, prm):
        msg = prm.rdata.wholeMsg
        headers = {}
        for line in msg.split("\r\n"):
            if ":" in line and not line.startswith(("INVITE", "SIP/2.0")):
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), v.strip())
        if self.answer is None:
            call = pj.Call(self, prm.callId)
            op = pj.CallOpParam()
            op.statusCode = 486
            call.hangup(op)
            self.refused += 1
            emit(event="incoming", answered=False, **{"from": headers.get("from")})
            return
        record, play = self.answer
        call = Call(self, record, play, prm.callId)
        self.incoming.append(call)
        emit(event="incoming", answered=True, **{"from": headers.get("from")},
             ticket=headers.get("x-hotline-ticket"), severity=headers.get("x-hotline-severity"))
        op = pj.CallOpParam()
        # With --answer-after the phone rings first (180) and answers later,
        # unless the call is cancelled meanwhile.
        op.statusCode = 180 if self.answer_after > 0 else 200
        call.answer(op)

    def onRegState(self, prm):
        info = self.getInfo()
        self.reg.append(prm.code)
        emit(event="reg", code=prm.code, expires=info.regExpiresSec, active=info.regIsActive)


class Call(pj.Call):
    def __init__(self, acc, record, play=None, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.record = record
        self.play = play
        self.recorder = None
        self.player = None
        self.state = None

    def onCallState(self, prm):
        ci = self.getInfo()
        self.state = ci.stateText
        emit(event="call", state=ci.stateText, code=ci.lastStatusCode)

    def onCallTransferStatus(self, prm):
        # The REFER's answer and every NOTIFY's sipfrag status line; keep
        # the call (cont) so that whoever hangs up is the test's to see.
        emit(event="xfer_status", code=prm.statusCode, reason=prm.reason,
             final=prm.finalNotify)
        prm.cont = True

    def onDtmfDigit(self, prm):
        # Keys the other side sent (RFC 4733 by default in pjsua2).
        emit(event="dtmf_heard", digit=prm.digit)

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if self.record and self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(self.record)
                    self.getAudioMedia(i).startTransmit(self.recorder)
                if self.play and self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(self.play, pj.PJMEDIA_FILE_NO_LOOP)
                    self.player.startTransmit(self.getAudioMedia(i))


def fix_wav_header(path):
    """pjsua's recorder writes the RIFF and data sizes only when destroyed,
    which a SWIG-held object may never be before exit: write them now."""
    import struct
    try:
        with open(path, "r+b") as f:
            data = f.read()
            i = data.find(b"data")
            if data[:4] != b"RIFF" or i < 0:
                return
            f.seek(4)
            f.write(struct.pack("<I", len(data) - 8))
            f.seek(i + 4)
            f.write(struct.pack("<I", len(data) - i - 8))
    except OSError:
        pass


def pump(ep, until, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        ep.libHandleEvents(20)
        if until():
            return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registrar", required=True, help="host:port of hotline")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--expires", type=int, default=60)
    ap.add_argument("--dial", help="a number to call once registered, e.g. *52")
    ap.add_argument("--record", help="WAV file for what the call plays")
    ap.add_argument("--unregister", action="store_true")
    ap.add_argument("--stay", type=float, default=0.0, help="seconds to stay registered")
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--answer", action="store_true", help="answer incoming calls")
    ap.add_argument("--play", help="WAV the agent says into an answered call")
    ap.add_argument("--talk", type=float, default=5.0, help="seconds before the agent hangs up (0: wait for BYE)")
    ap.add_argument("--wait-call", type=float, default=0.0, help="seconds to wait for an incoming call")
    ap.add_argument("--answer-after", type=float, default=0.0, help="ring this long before answering")
    ap.add_argument("--dtmf", help="keys the agent presses (RFC 4733) once the call is up")
    ap.add_argument("--dtmf-after", type=float, default=2.0)
    ap.add_argument("--transfer", help="blind-transfer (REFER) the answered call to this URI")
    ap.add_argument("--transfer-after", type=float, default=2.0)
    ap.add_argument("--calls", type=int, default=1, help="incoming calls to take, one after the other")
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    # 8 kHz end to end, as G.711 carries it: the recording then compares
    # sample for sample with the prompt the test expects.
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.boundAddress = "127.0.0.1"
    tcfg.port = 0
    kind = pj.PJSIP_TRANSPORT_TCP if args.tcp else pj.PJSIP_TRANSPORT_UDP
    ep.transportCreate(kind, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()

    transport = ";transport=tcp" if args.tcp else ""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{args.registrar}"
    acfg.regConfig.registrarUri = f"sip:{args.registrar}{transport}"
    acfg.regConfig.timeoutSec = args.expires
    acfg.regConfig.retryIntervalSec = 0
    acfg.natConfig.contactRewriteUse = 0
    acfg.natConfig.viaRewriteUse = 0
    acfg.natConfig.sdpNatRewriteUse = 0
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    cred = pj.AuthCredInfo("digest", "*", args.user, 0, args.password)
    acfg.sipConfig.authCreds.append(cred)
    acc = Account((args.record, args.play) if args.answer else None, args.answer_after)
    acc.create(acfg)
    ok = pump(ep, lambda: len(acc.reg) > 0, 10)
    if not ok:
        emit(event="timeout", what="registration")

    call = None
    if args.dial and acc.reg and acc.reg[-1] == 200:
        call = Call(acc, args.record)
        prm = pj.CallOpParam(True)
        call.makeCall(f"sip:{args.dial}@{args.registrar}{transport}", prm)
        pump(ep, lambda: call.state == "DISCONNECTED", 30)
        if args.record:
            fix_wav_header(args.record)

    for n in range(args.calls if args.wait_call > 0 else 0):
        pump(ep, lambda: len(acc.incoming) > n or acc.refused > n, args.wait_call)
        if len(acc.incoming) > n:
            c = acc.incoming[n]
            if args.answer_after > 0:
                pump(ep, lambda: c.state == "DISCONNECTED", args.answer_after)
                if c.state == "DISCONNECTED":
                    emit(event="cancelled")
                else:
                    op = pj.CallOpParam()
                    op.statusCode = 200
                    c.answer(op)
            pump(ep, lambda: c.state in ("CONFIRMED", "DISCONNECTED"), 10)
            if args.dtmf and c.state == "CONFIRMED":
                pump(ep, lambda: c.state == "DISCONNECTED", args.dtmf_after)
                if c.state == "CONFIRMED":
                    c.dialDtmf(args.dtmf)
                    emit(event="dtmf", keys=args.dtmf)
            if args.transfer and c.state == "CONFIRMED":
                pump(ep, lambda: c.state == "DISCONNECTED", args.transfer_after)
                if c.state == "CONFIRMED":
                    c.xfer(args.transfer, pj.CallOpParam())
                    emit(event="xfer", to=args.transfer)
            if args.talk > 0:
                pump(ep, lambda: c.state == "DISCONNECTED", args.talk)
                if c.state != "DISCONNECTED":
                    c.hangup(pj.CallOpParam())
            pump(ep, lambda: c.state == "DISCONNECTED", 60)
            if args.record:
                fix_wav_header(args.record)
        elif acc.refused <= n:
            emit(event="timeout", what="incoming call")
            break

    if args.stay > 0:
        pump(ep, lambda: False, args.stay)

    if args.unregister and acc.reg and acc.reg[-1] == 200:
        n = len(acc.reg)
        acc.setRegistration(False)
        pump(ep, lambda: len(acc.reg) > n, 10)

    emit(event="done")
    sys.stdout.flush()
    # Skip pjsua's own unregistration at shutdown: the test decides.
    import os
    os._exit(0)


if __name__ == "__main__":
    main()
