package sip

// EarlyDialogInfo is the dialog-info document showing ext with one ringing call (a recipient's
// early dialog) whose caller-controlled fields are given, for the sip_test fuzzer.
func EarlyDialogInfo(ext, host string, version int, id, localTag, remoteTag, name, remote string) []byte {
	return dialogInfo(ext, host, version, []blfDialog{{
		id: id, direction: "recipient", state: dialogEarly, remote: remote,
		ids: dialogIDs{localTag: localTag, remoteTag: remoteTag, remoteName: name},
	}})
}

// FinishedTxLinger is how long a finished transaction, or a BYE's dialog, absorbs
// retransmissions.
const FinishedTxLinger = finishedTxLinger
