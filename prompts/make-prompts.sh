#!/usr/bin/env bash
# Regenerates the default IVR prompts with espeak-ng and sox.
#
#   COMPANY="ACME Ltd" COMPANY_ZH="某某公司" prompts/make-prompts.sh
#
# Output (repeatable: sox -R fixes the dither seed): 8 kHz mono 16-bit PCM WAV (what G.711 carries, so nothing is
# converted at load time). The greeting is split into parts so the company
# name is never baked into a recording: hello + company + service.
# Needs: espeak-ng (voices en-us and cmn-latn-pinyin), sox.
set -euo pipefail
cd "$(dirname "$0")"

COMPANY="${COMPANY:-Example Corp}"
COMPANY_ZH="${COMPANY_ZH:-$COMPANY}"
# Mandarin voice: espeak-ng's `cmn` variant that reads Latin as pinyin. Debian's
# cmn dictionary lacks many characters (技, 您, 硬 ...); for those espeak-ng
# falls back to their pinyin, and plain `cmn` reads that pinyin as English
# ("ji four"). This variant pronounces it as Mandarin.
ZH_VOICE="${ZH_VOICE:-cmn-latn-pinyin}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# say VOICE OUT TEXT: speak, resample to 8 kHz mono 16-bit, normalise to -3 dBFS.
say() {
    local voice=$1 out=$2 text=$3
    espeak-ng -v "$voice" -s 150 -w "$TMP/raw.wav" -- "$text"
    sox -R "$TMP/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" norm -3
}

mkdir -p en zh

# Played before a language is chosen, so it lives at the top level.
say en-us "$TMP/lang-en.wav" "For English, press 1."
say "$ZH_VOICE" "$TMP/lang-zh.wav" "中文服务请按2。"
sox -R "$TMP/lang-en.wav" "$TMP/lang-zh.wav" language-choice.wav

# 1 kHz, 200 ms, -6 dBFS, with 5 ms fades so it does not click.
sox -R -n -r 8000 -c 1 -b 16 -e signed-integer beep.wav synth 0.2 sine 1000 vol 0.5 fade 0.005 0.2 0.005

# Music on hold: ours (synthesised here, no third-party rights), shared by
# all languages. Eight chords of three seconds (24 s, looped while a caller
# waits): a soft sine pad under a plucked arpeggio whose pattern changes with
# every chord, so the loop does not sound like one bar repeated. Levels are
# set so the mix peaks near -12 dBFS; a low-pass keeps it soft on a phone line,
# and fades at both ends join the loop softly.
music() {
    local out=$1 i=0
    # Chords as MIDI note numbers (root position, mid register).
    local chords=("60 64 67 71" "57 60 64 67" "53 57 60 64" "55 59 62 67"
                  "52 55 59 62" "57 60 64 69" "50 53 57 60" "55 59 62 65")
    # Arpeggio orders (indices into the chord, 6 notes of 0.5 s each).
    local patterns=("0 1 2 3 2 1" "0 2 1 3 1 2" "3 2 1 0 1 2" "0 1 3 2 3 1"
                    "1 2 3 2 0 2" "0 2 3 1 2 3" "2 1 0 1 2 3" "0 3 2 1 2 0")
    hz() { awk -v n="$1" 'BEGIN { printf "%.2f", 440 * 2 ^ ((n - 69) / 12) }'; }
    local parts=()
    for chord in "${chords[@]}"; do
        read -ra notes <<<"$chord"
        local pad=() arp=()
        for n in "${notes[@]}"; do
            sox -R -n -r 8000 -c 1 -b 16 "$TMP/pad-$i-$n.wav" synth 3 sine "$(hz $((n - 12)))" vol 0.08 fade q 0.4 3 0.6
            pad+=("$TMP/pad-$i-$n.wav")
        done
        local k=0
        for idx in ${patterns[$i]}; do
            local n=${notes[$idx]}
            # The last note of a chord an octave up: a small melody on top.
            [[ $k -eq 5 ]] && n=$((n + 12))
            sox -R -n -r 8000 -c 1 -b 16 "$TMP/arp-$i-$k.wav" synth 0.5 pluck "$(hz "$n")" vol 0.22 fade q 0.01 0.5 0.2
            arp+=("$TMP/arp-$i-$k.wav")
            k=$((k + 1))
        done
        sox -R "${arp[@]}" "$TMP/arp-$i.wav"
        sox -R -m "${pad[@]}" "$TMP/arp-$i.wav" "$TMP/chord-$i.wav"
        parts+=("$TMP/chord-$i.wav")
        i=$((i + 1))
    done
    sox -R "${parts[@]}" "$TMP/music.wav"
    local len
    len=$(soxi -D "$TMP/music.wav")
    sox -R "$TMP/music.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
        lowpass 1800 reverb 30 50 60 gain -n -12 fade q 0.5 "$len" 1
}
music music-on-hold.wav

# English ------------------------------------------------------------------
e() { say en-us "en/$1.wav" "$2"; }
e greeting-hello "Hello, this is"
e company "$COMPANY"
e greeting-service "technical support."
e category-menu "Please choose the problem category. For hardware, press 1. For software, press 2. For network, press 3. For account and access, press 4. For how-to questions, press 5."
e severity-menu "How severe is the problem? Press 1 for critical: your core business is completely down. Press 2 for major: part of your business is impaired, and a workaround exists. Press 3 for minor: questions or cosmetic issues."
e customer-number "Please enter your customer number, followed by the hash key. If you do not have one, just press hash."
e callback-number "Please enter the number we should call you back on, followed by the hash key."
e record-message "Please describe your problem after the beep. Press hash when you are done."
e invalid-choice "Sorry, that is not a valid choice."
e no-input "Sorry, we did not receive any input."
e ticket-number-is "Your ticket number is"
e ticket-recorded "Your request has been recorded. The desk will call you back at your number and give you your ticket number."
e callback-within "We will call you back within"
e minutes "minutes"
e hour "hour"
e hours "hours"
e thank-you-goodbye "Thank you for calling. Goodbye."
# Queue (ivr::announce): "You are caller number 3, expected wait about 4 minutes."
e queue-position "You are caller number"
e queue-wait "Expected wait, about"
e minute "minute"
e connecting "Please hold, we are connecting you to a support engineer."
e callback-offer "Press 1 to be called back at"
e callback-offer-end "or stay on the line."
e callback-noted "We have noted your callback request. Goodbye."
e call-cut "Your call was cut. Your ticket"
e call-cut-end "stays open, and we will call you back."
e agents-busy "All our agents are busy at the moment. Please stay on the line."
# Outside service hours ([hours]): "... We will call you back within 10 hours." or, beyond a day, callback-when-open.
e after-hours "Our support engineers are not available at this hour. Your ticket is recorded."
e callback-when-open "We will call you back as soon as our engineers are available."
# Agents' feature codes (*50 log in, *51 log out, *52 pause, *53 resume).
e agent-logged-in "You are logged in and will receive calls."
e agent-logged-out "You are logged out."
e agent-paused "You are paused. Dial star five three to resume."
e agent-resumed "You are available again."
words=(zero one two three four five six seven eight nine)
for d in 0 1 2 3 4 5 6 7 8 9; do e "digit-$d" "${words[$d]}"; done
for n in "1 one" "2 two" "3 three" "4 four" "5 five" "6 six" "7 seven" "8 eight" "9 nine" \
    "10 ten" "15 fifteen" "20 twenty" "24 twenty-four" "30 thirty" "45 forty-five"; do
    e "number-${n%% *}" "${n#* }"
done

# Mandarin Chinese ---------------------------------------------------------
z() { say "$ZH_VOICE" "zh/$1.wav" "$2"; }
z greeting-hello "您好，这里是"
# A Latin-script name is spoken by the English voice (the pinyin voice would
# read "Corp" as pinyin); a Chinese name by the Mandarin one.
if [[ "$COMPANY_ZH" =~ ^[[:print:]]*$ ]] && LC_ALL=C grep -q '^[ -~]*$' <<<"$COMPANY_ZH"; then
    say en-us zh/company.wav "$COMPANY_ZH"
else
    z company "$COMPANY_ZH"
fi
z greeting-service "技术支持。"
z category-menu "请选择问题类别。硬件问题请按1，软件问题请按2，网络问题请按3，账号和权限问题请按4，使用咨询请按5。"
z severity-menu "请选择问题的严重程度。严重请按1：核心业务完全中断。较重请按2：部分业务受影响，但有临时解决办法。一般请按3：咨询或显示等小问题。"
z customer-number "请输入您的客户编号，以井号键结束。如果没有，请直接按井号键。"
z callback-number "请输入您的回拨电话号码，以井号键结束。"
z record-message "请在提示音后描述您的问题，说完请按井号键。"
z invalid-choice "对不起，您的选择无效。"
z no-input "对不起，我们没有收到您的输入。"
z ticket-number-is "您的工单号是"
z ticket-recorded "您的请求已记录。我们会按您的号码给您回电，并告诉您工单号。"
z callback-within "我们将在"
z callback-within-end "内给您回电。"
z minutes "分钟"
z hour "个小时"
z hours "个小时"
z thank-you-goodbye "感谢您的来电，再见。"
# 您是第 三 位来电者。预计等待约 四 分钟。
z queue-position "您是第"
z queue-position-end "位来电者。"
z queue-wait "预计等待约"
z minute "分钟"
z connecting "请稍候，正在为您转接技术支持工程师。"
z callback-offer "如需我们回拨至"
z callback-offer-end "请按1；或请继续等待。"
z callback-noted "我们已记录您的回拨请求。再见。"
z call-cut "通话已中断。您的工单"
z call-cut-end "仍然有效，我们会给您回电。"
z agents-busy "所有客服人员正忙，请稍候。"
z after-hours "现在不是技术支持工程师的服务时间。您的工单已记录。"
z callback-when-open "工程师上班后我们会尽快给您回电。"
z agent-logged-in "您已登录，将开始接听来电。"
z agent-logged-out "您已退出登录。"
z agent-paused "您已暂停接听。拨星号五三恢复。"
z agent-resumed "您已恢复接听。"
zdigits=(零 一 二 三 四 五 六 七 八 九)
for d in 0 1 2 3 4 5 6 7 8 9; do z "digit-$d" "${zdigits[$d]}"; done
# "两" (not "二") before a measure word: 两个小时.
for n in "1 一" "2 两" "3 三" "4 四" "5 五" "6 六" "7 七" "8 八" "9 九" "10 十" "15 十五" \
    "20 二十" "24 二十四" "30 三十" "45 四十五"; do
    z "number-${n%% *}" "${n#* }"
done

echo "prompts written to $(pwd) (company: $COMPANY / $COMPANY_ZH)"
