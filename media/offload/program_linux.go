//go:build linux

package offload

import "github.com/cilium/ebpf/asm"

// Where the program keeps things: the packet's IPv4 and UDP headers (read once), the table's
// key, the RTP header.
const (
	ethLen  = 14  // tc hands the program the frame: lo and Ethernet devices (Open) have this header
	ipLen   = 20  // options (IHL above 5) are left to the switch
	bufOff  = -32 // IPv4 and UDP headers, 28 bytes
	keyOff  = -40 // key, 8 bytes
	rtpOff  = -56 // RTP header, 12 bytes
	udpCsum = ethLen + ipLen + 6

	// tcx verdicts: next program (the datagram goes on to the socket), pass (deliver as it now
	// is), drop.
	tcxNext = -1
	tcxPass = 0
	tcxDrop = 2

	// bpf_l4_csum_replace flags: an address of the pseudo-header; a zero checksum (none, in
	// UDP over IPv4) stays zero.
	fPseudo  = 0x10
	fMangle0 = 0x20
)

// Offsets in entry (offload_linux.go).
const (
	eFrom     = 0
	eFromPort = 4
	eMode     = 6
	eSrc      = 8
	eSrcPort  = 12
	eDst      = 16
	eDstPort  = 20
	eIfindex  = 24
	ePackets  = 32
	eBytes    = 40
	eHeader   = 48
	eAt       = 64
)

// program is the tc program, in the order a datagram meets it: an IPv4 UDP datagram, not a
// fragment, for a socket in the table (the map at mapFD), from the peer that socket latched to,
// is counted, its RTP header noted, its addresses and ports replaced (both checksums updated
// by the kernel's helpers, which also handle a checksum the device has yet to finish), and sent
// on: delivered here, or sent out of the entry's interface to the next hop the kernel's routing
// and neighbour tables give. Anything else goes on untouched.
func program(mapFD int) asm.Instructions {
	xadd := func(off int16) asm.Instruction {
		ins := asm.StoreXAdd(asm.R7, asm.R2, asm.DWord)
		ins.Offset = off
		return ins
	}
	// csum calls helper fn on the checksum at off: from (a packet's old bytes on the stack) to
	// to (the entry's new ones), size bytes, with flags.
	csum := func(fn asm.BuiltinFunc, off int32, from, to int16, size asm.Size, flags int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.LoadMem(asm.R3, asm.RFP, from, size),
			asm.LoadMem(asm.R4, asm.R7, to, size),
			asm.Mov.Imm(asm.R5, flags|int32(size.Sizeof())),
			fn.Call(),
			asm.JNE.Imm(asm.R0, 0, "drop"),
		}
	}
	// put copies the entry's new address or port over the packet's on the stack.
	put := func(from, to int16, size asm.Size) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.R7, from, size),
			asm.StoreMem(asm.RFP, to, asm.R2, size),
		}
	}
	var p asm.Instructions
	p = append(p,
		asm.Mov.Reg(asm.R6, asm.R1),               // the skb, kept across helper calls
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // skb->protocol, network order
		asm.JNE.Imm(asm.R2, 0x0008, "next"),       // ETH_P_IP
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethLen),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, bufOff),
		asm.Mov.Imm(asm.R4, ipLen+8),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "next"),
		asm.LoadMem(asm.R2, asm.RFP, bufOff, asm.Byte),
		asm.JNE.Imm(asm.R2, 0x45, "next"), // IPv4 without options
		asm.LoadMem(asm.R2, asm.RFP, bufOff+9, asm.Byte),
		asm.JNE.Imm(asm.R2, 17, "next"), // UDP
		asm.LoadMem(asm.R2, asm.RFP, bufOff+6, asm.Half),
		asm.And.Imm(asm.R2, 0xff3f), // more fragments, fragment offset (read little-endian)
		asm.JNE.Imm(asm.R2, 0, "next"),
		// The key: destination address and port.
		asm.LoadMem(asm.R2, asm.RFP, bufOff+16, asm.Word),
		asm.StoreMem(asm.RFP, keyOff, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, bufOff+ipLen+2, asm.Half),
		asm.StoreMem(asm.RFP, keyOff+4, asm.R2, asm.Half),
		asm.StoreImm(asm.RFP, keyOff+6, 0, asm.Half),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Reg(asm.R7, asm.R0), // the entry, kept across helper calls
		// Only from the latched peer: anything else is the switch's to judge.
		asm.LoadMem(asm.R2, asm.RFP, bufOff+12, asm.Word),
		asm.LoadMem(asm.R3, asm.R7, eFrom, asm.Word),
		asm.JNE.Reg(asm.R2, asm.R3, "next"),
		asm.LoadMem(asm.R2, asm.RFP, bufOff+ipLen, asm.Half),
		asm.LoadMem(asm.R3, asm.R7, eFromPort, asm.Half),
		asm.JNE.Reg(asm.R2, asm.R3, "next"),
		// Count it, the payload's bytes as the switch counts them.
		asm.Mov.Imm(asm.R2, 1),
		xadd(ePackets),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // skb->len, from the frame's start
		asm.Add.Imm(asm.R2, -(ethLen+ipLen+8)),
		xadd(eBytes),
		// Note an RTP header (version 2, a payload type outside RTCP's 64-95) and when.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethLen+ipLen+8),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, rtpOff),
		asm.Mov.Imm(asm.R4, 12),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "rewrite"),
		asm.LoadMem(asm.R2, asm.RFP, rtpOff, asm.Byte),
		asm.And.Imm(asm.R2, 0xc0),
		asm.JNE.Imm(asm.R2, 0x80, "rewrite"),
		asm.LoadMem(asm.R2, asm.RFP, rtpOff+1, asm.Byte),
		asm.And.Imm(asm.R2, 0x7f),
		asm.JLT.Imm(asm.R2, 64, "record"),
		asm.JLT.Imm(asm.R2, 96, "rewrite"),
		asm.LoadMem(asm.R2, asm.RFP, rtpOff, asm.DWord).WithSymbol("record"),
		asm.StoreMem(asm.R7, eHeader, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, rtpOff+8, asm.Word),
		asm.StoreMem(asm.R7, eHeader+8, asm.R2, asm.Word),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R7, eAt, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("rewrite"),
	)
	// The checksums: the IPv4 header's over both addresses, UDP's over them (its
	// pseudo-header) and the ports.
	p = append(p, csum(asm.FnL3CsumReplace, ethLen+10, bufOff+12, eSrc, asm.Word, 0)...)
	p = append(p, csum(asm.FnL3CsumReplace, ethLen+10, bufOff+16, eDst, asm.Word, 0)...)
	p = append(p, csum(asm.FnL4CsumReplace, udpCsum, bufOff+12, eSrc, asm.Word, fPseudo|fMangle0)...)
	p = append(p, csum(asm.FnL4CsumReplace, udpCsum, bufOff+16, eDst, asm.Word, fPseudo|fMangle0)...)
	p = append(p, csum(asm.FnL4CsumReplace, udpCsum, bufOff+ipLen, eSrcPort, asm.Half, fMangle0)...)
	p = append(p, csum(asm.FnL4CsumReplace, udpCsum, bufOff+ipLen+2, eDstPort, asm.Half, fMangle0)...)
	// The addresses and ports themselves: 12 bytes in a row from the IPv4 source address.
	p = append(p, put(eSrc, bufOff+12, asm.Word)...)
	p = append(p, put(eDst, bufOff+16, asm.Word)...)
	p = append(p, put(eSrcPort, bufOff+ipLen, asm.Half)...)
	p = append(p, put(eDstPort, bufOff+ipLen+2, asm.Half)...)
	p = append(p,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, ethLen+12),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, bufOff+12),
		asm.Mov.Imm(asm.R4, 12),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),
		// On its way.
		asm.LoadMem(asm.R2, asm.R7, eMode, asm.Half),
		asm.JEq.Imm(asm.R2, modeHere, "pass"),
		asm.LoadMem(asm.R1, asm.R7, eIfindex, asm.Word),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRedirectNeigh.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxPass).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("next"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop"),
		asm.Return(),
	)
	return p
}
