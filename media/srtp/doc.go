// Package srtp is the switch's SRTP for phones: SDES keys carried in SDP (RFC 4568 a=crypto
// lines), the translation between a phone's RTP/SAVP offer or answer and the plain RTP/AVP the
// call core reads, and a media.Cipher that encrypts and decrypts a leg's packets with
// pion/srtp. The switch terminates SRTP on each leg, so an SRTP phone talks to a plain one
// (or a carrier, or a voicemail recorder) through it.
package srtp
