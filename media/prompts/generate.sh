#!/usr/bin/env bash
# generate.sh makes Switchboard's built-in voice prompts and music on hold.
#
# Needs: bash, espeak-ng and sox (Debian/Ubuntu: apt-get install -y espeak-ng
# sox). Only this script needs them: the WAV files it writes are committed and
# embedded into the binary by prompts.go, so building and testing Switchboard
# never runs it.
#
# Run:   media/prompts/generate.sh          (from anywhere; it writes next to itself)
# Then:  go test ./media/prompts/ and commit the changed *.wav files.
#
# Every file is 8 kHz mono 16-bit PCM WAV, the G.711 clock the switch runs at.
# Speech is espeak-ng's default American English voice at 150 words a minute,
# high-passed, trimmed of leading and trailing silence, padded with 100 ms of
# digital silence at each end and normalised to a -3 dBFS peak. The beep is a
# 1 kHz sine; music on hold is a synthesised loop (see music_on_hold below).
# sox runs in repeatable mode (-R) without dither (-D), so a rerun with the
# same tool versions gives the same bytes.
set -euo pipefail

out=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done

voice=en-us # espeak-ng's reference English voice; its variants only add timbre
speed=150   # words a minute: unhurried, still natural
gap=2       # extra pause between words, in units of 10 ms

# sox8k writes its input as the switch's format. Extra arguments are effects.
sox8k() {
	local in=$1 dst=$2
	shift 2
	sox -R -D "$in" -r 8000 -c 1 -b 16 -e signed-integer "$dst" "$@"
}

# say NAME TEXT speaks TEXT into NAME.wav.
say() {
	local name=$1 text=$2
	espeak-ng -v "$voice" -s "$speed" -g "$gap" -w "$work/$name.wav" "$text"
	# highpass drops rumble below the telephone band; the silence/reverse pairs
	# trim both ends at -45 dBFS; resample, then normalise the result (not
	# the 22 kHz input, whose peaks the resampler moves); pad last so the
	# padding is exact zeros.
	sox8k "$work/$name.wav" "$out/$name.wav" \
		highpass 100 \
		silence 1 0.005 -45d reverse silence 1 0.005 -45d reverse \
		rate -v 8000 norm -3 pad 0.1 0.1
}

say busy "The number you are calling is busy. Please hold."
say unavailable "The person you are calling is not available."
say leave_message "Please leave a message after the tone."
say dnd_on "Do not disturb is on."
say dnd_off "Do not disturb is off."
say you_have "You have"
say new_messages "new messages"
say new_message "new message"
say no_new_messages "You have no new messages."
say caller_number "You are caller number"
say call_from "Call from"
say screening_menu "Press 1 to accept, 2 to send to voicemail, 3 to turn on do not disturb."
say voicemail_menu "Press 1 to repeat, 7 to delete, 9 to save, or pound for the next message."
say message_deleted "Message deleted."
say message_saved "Message saved."
say no_more_messages "No more messages."
say goodbye "Goodbye."
say callback_offer "Press 2 to hang up and be called back."
say callback_booked "We will call you back. Goodbye."

digits=(zero one two three four five six seven eight nine)
for d in "${!digits[@]}"; do
	say "digit_$d" "${digits[$d]}"
done

# beep: the "record after the tone" tone. 1 kHz, 400 ms, 5 ms raised-cosine
# ramps so it does not click, peak -9 dBFS: a steady tone at the speech
# prompts' -3 dBFS peak would sound far louder than they do.
sox -R -D -r 8000 -c 1 -n -b 16 -e signed-integer "$out/beep.wav" \
	synth 0.4 sine 1000 fade h 0.005 0.4 0.005 gain -n -9

# music_on_hold: I-V-vi-IV in D major (D, A, Bm, G), three seconds a chord,
# played twice: 24 s, then a short tail so the last notes ring out. A soft sine
# pad holds each chord (slow attack, release overlapping the next chord) and a
# plucked eighth-note arpeggio at 80 beats a minute plays on top. The mix is
# band-limited to the telephone band (300-3400 Hz), given a little reverb,
# faded in and out so the loop point is silence meeting silence, and
# normalised to a -6 dBFS peak.
chord=3       # seconds a chord lasts
note=0.375    # seconds an arpeggio note lasts (an eighth at 80 bpm)
pads=("D4 F#4 A4" "E4 A4 C#5" "D4 F#4 B4" "D4 G4 B4")
arps=("D5 F#5 A5 D6 A5 F#5 A5 F#5"
	"C#5 E5 A5 C#6 A5 E5 A5 E5"
	"D5 F#5 B5 D6 B5 F#5 B5 F#5"
	"D5 G5 B5 D6 B5 G5 B5 G5")
moh=$work/moh
mkdir "$moh"
layers=()
n=0
for pass in 0 1; do
	for c in "${!pads[@]}"; do
		start=$(( (pass * ${#pads[@]} + c) * chord ))
		# pad: three sines mixed to mono, 0.8 s attack, 1.2 s release that
		# overlaps the next chord's attack.
		read -r p1 p2 p3 <<<"${pads[$c]}"
		sox -R -D -r 8000 -c 3 -n -c 1 -b 16 "$moh/pad$n.wav" \
			synth 4 sine "$p1" sine "$p2" sine "$p3" remix - \
			fade q 0.8 4 1.2 gain -n -6 pad "$start" 0
		layers+=("$moh/pad$n.wav")
		# arpeggio: eight plucked notes, each cut with a 60 ms fade so it
		# ends at silence before the next one starts (sox plucks only at
		# 44.1-48 kHz, so each note is made at 48 kHz and resampled).
		notes=()
		i=0
		for pitch in ${arps[$c]}; do
			sox -R -D -r 48000 -c 1 -n -r 8000 -b 16 "$moh/note$n-$i.wav" \
				synth "$note" pluck "$pitch" fade q 0.005 "$note" 0.06
			notes+=("$moh/note$n-$i.wav")
			i=$((i + 1))
		done
		sox -R -D "${notes[@]}" "$moh/arp$n.wav" gain -n -3 pad "$start" 0
		layers+=("$moh/arp$n.wav")
		n=$((n + 1))
	done
done
# Three runs, not one chain: after reverb, sox 14.4 misjudges the length and
# a later fade cuts the audio short. The pad puts 50 ms of silence before
# the first note and gives the reverb room to ring out at the end.
sox -R -D -m "${layers[@]}" "$moh/mix.wav"
sox -R -D "$moh/mix.wav" "$moh/verb.wav" pad 0.05 0.5 highpass 300 lowpass 3400 reverb 30 50 60
sox8k "$moh/verb.wav" "$out/music_on_hold.wav" fade q 0.3 0 1.5 norm -6
