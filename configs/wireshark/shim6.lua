-- shim6.lua: a Wireshark dissector for Shim6, as RFC 5533 §5 and RFC 5534 §5
-- lay it out: the payload extension header, every control message, every
-- option (Locator List with its internal padding, Locator Preferences of any
-- element length, the CGA Parameter Data Structure of RFC 3972 §3 with the
-- Multi-Prefix extension of RFC 5535 §5), and Probe reports.
--
-- Wireshark's built-in Shim6 dissector (4.0) reads the checksum one octet
-- early and every field after it shifted (docs/tshark.md); this one takes
-- IPv6 Next Header 140 over from it. Install: copy this file into the
-- personal Lua plugins folder (Help > About Wireshark > Folders, usually
-- ~/.local/lib/wireshark/plugins/), or for one run:
--
--   tshark -X lua_script:configs/wireshark/shim6.lua -r capture.pcap -V
--
-- Fields are named shim6.*, the same names `shim6ctl decode --json` gives
-- its keys (cmd/shim6ctl/dissector_test.go holds the two to each other).
-- Every rule a message breaks is expert info shim6.expert.KIND, KIND as in
-- decode's violations; the checks follow control/wire's Inspect.
--
-- Wireshark 4.0 runs Lua 5.2: bit operations come from bit32.

local band, rshift = bit32.band, bit32.rshift

local shim6 = Proto.new("shim6rfc", "Shim6 Protocol (RFC 5533)")

local msg_names = {
	[1] = "I1", [2] = "R1", [3] = "I2", [4] = "R2", [5] = "R1bis", [6] = "I2bis",
	[64] = "Update Request", [65] = "Update Acknowledgement", [66] = "Keepalive",
	[67] = "Probe", [68] = "Error",
}
local opt_names = {
	[1] = "Responder Validator", [2] = "Locator List", [3] = "Locator Preferences",
	[4] = "CGA Parameter Data Structure", [5] = "CGA Signature", [6] = "ULID Pair",
	[7] = "Forked Instance Identifier", [10] = "Keepalive Timeout",
}
local error_names = {
	[0] = "Unknown Shim6 message type", [1] = "Critical option not recognized",
	[2] = "Locator verification method failed", [3] = "Locator List Generation number out of sync",
	[4] = "Error in the number of locators in a Locator Preference option",
}
local method_names = { [1] = "HBA", [2] = "CGA" }
local state_names = { [0] = "Operational", [1] = "Exploring", [2] = "InboundOk" }

local F = {
	-- common header, RFC 5533 §5.2 and §5.3
	next_header = ProtoField.uint8("shim6.next_header", "Next Header", base.DEC),
	hdr_ext_len = ProtoField.uint8("shim6.hdr_ext_len", "Hdr Ext Len", base.DEC),
	p = ProtoField.bool("shim6.p", "P", 8, { "payload extension header", "control message" }, 0x80),
	type = ProtoField.uint8("shim6.type", "Type", base.DEC, msg_names, 0x7f),
	type_specific = ProtoField.uint8("shim6.type_specific", "Type-specific", base.DEC, nil, 0xfe),
	s = ProtoField.bool("shim6.s", "S", 8, { "HIP", "Shim6" }, 0x01),
	checksum = ProtoField.uint16("shim6.checksum", "Checksum", base.HEX),
	checksum_ok = ProtoField.bool("shim6.checksum_ok", "Checksum verifies"),
	checksum_expected = ProtoField.uint16("shim6.checksum_expected", "Checksum expected", base.HEX),
	length = ProtoField.uint16("shim6.length", "Message length", base.DEC),
	reserved = ProtoField.bytes("shim6.reserved", "Reserved"),
	context_tag = ProtoField.uint64("shim6.context_tag", "Receiver Context Tag", base.HEX),
	trailing = ProtoField.bytes("shim6.trailing", "Trailing octets"),
	-- message fields, RFC 5533 §5.4–§5.14, RFC 5534 §5.1–§5.2
	initiator_context_tag = ProtoField.uint64("shim6.initiator_context_tag", "Initiator Context Tag", base.HEX),
	responder_context_tag = ProtoField.uint64("shim6.responder_context_tag", "Responder Context Tag", base.HEX),
	packet_context_tag = ProtoField.uint64("shim6.packet_context_tag", "Packet Context Tag", base.HEX),
	receiver_context_tag = ProtoField.uint64("shim6.receiver_context_tag", "Receiver Context Tag", base.HEX),
	initiator_nonce = ProtoField.uint32("shim6.initiator_nonce", "Initiator Nonce", base.HEX),
	responder_nonce = ProtoField.uint32("shim6.responder_nonce", "Responder Nonce", base.HEX),
	request_nonce = ProtoField.uint32("shim6.request_nonce", "Request Nonce", base.HEX),
	precvd = ProtoField.uint8("shim6.precvd", "Precvd", base.DEC, nil, 0xf0),
	psent = ProtoField.uint8("shim6.psent", "Psent", base.DEC, nil, 0x0f),
	state = ProtoField.uint8("shim6.state", "State", base.DEC, state_names, 0xc0),
	sent_source = ProtoField.ipv6("shim6.sent.source", "Source"),
	sent_destination = ProtoField.ipv6("shim6.sent.destination", "Destination"),
	sent_nonce = ProtoField.uint32("shim6.sent.nonce", "Nonce", base.HEX),
	sent_data = ProtoField.uint32("shim6.sent.data", "Data", base.HEX),
	received_source = ProtoField.ipv6("shim6.received.source", "Source"),
	received_destination = ProtoField.ipv6("shim6.received.destination", "Destination"),
	received_nonce = ProtoField.uint32("shim6.received.nonce", "Nonce", base.HEX),
	received_data = ProtoField.uint32("shim6.received.data", "Data", base.HEX),
	error_code = ProtoField.uint8("shim6.error_code", "Error Code", base.DEC, error_names, 0xfe),
	pointer = ProtoField.uint16("shim6.pointer", "Pointer", base.DEC),
	packet_in_error_length = ProtoField.uint16("shim6.packet_in_error_length", "Packet in error length", base.DEC),
	packet_in_error = ProtoField.bytes("shim6.packet_in_error", "Packet in error"),
	-- options, RFC 5533 §5.15, RFC 5534 §5.3
	opt_type = ProtoField.uint16("shim6.opt.type", "Option Type", base.DEC, opt_names, 0xfffe),
	opt_critical = ProtoField.bool("shim6.opt.critical", "C", 16, nil, 0x0001),
	opt_length = ProtoField.uint16("shim6.opt.length", "Length", base.DEC),
	opt_contents = ProtoField.bytes("shim6.opt.contents", "Contents"),
	opt_padding = ProtoField.bytes("shim6.opt.padding", "Padding"),
	opt_validator = ProtoField.bytes("shim6.opt.validator", "Validator"),
	opt_signature = ProtoField.bytes("shim6.opt.signature", "Signature"),
	opt_generation = ProtoField.uint32("shim6.opt.generation", "Locator List Generation", base.DEC),
	opt_num_locators = ProtoField.uint8("shim6.opt.num_locators", "Num Locators", base.DEC),
	opt_method = ProtoField.uint8("shim6.opt.locators.verification_method", "Verification Method", base.DEC, method_names),
	opt_internal_padding = ProtoField.bytes("shim6.opt.internal_padding", "Padding"),
	opt_locator = ProtoField.ipv6("shim6.opt.locators.locator", "Locator"),
	opt_element_length = ProtoField.uint8("shim6.opt.element_length", "Element Len", base.DEC),
	opt_flags = ProtoField.uint8("shim6.opt.elements.flags", "Flags", base.HEX),
	opt_broken = ProtoField.bool("shim6.opt.elements.flags.broken", "BROKEN", 8, nil, 0x01),
	opt_transient = ProtoField.bool("shim6.opt.elements.flags.transient", "TRANSIENT", 8, nil, 0x02),
	opt_priority = ProtoField.uint8("shim6.opt.elements.priority", "Priority", base.DEC),
	opt_weight = ProtoField.uint8("shim6.opt.elements.weight", "Weight", base.DEC),
	opt_element_reserved = ProtoField.bytes("shim6.opt.elements.reserved", "Beyond the known fields"),
	opt_sender_ulid = ProtoField.ipv6("shim6.opt.sender_ulid", "Sender ULID"),
	opt_receiver_ulid = ProtoField.ipv6("shim6.opt.receiver_ulid", "Receiver ULID"),
	opt_fii = ProtoField.uint32("shim6.opt.forked_instance_identifier", "Forked Instance Identifier", base.DEC),
	opt_keepalive = ProtoField.uint16("shim6.opt.keepalive_timeout_seconds", "Keepalive Timeout (s)", base.DEC),
	-- CGA Parameters, RFC 3972 §3; Multi-Prefix extension, RFC 5535 §5
	opt_modifier = ProtoField.bytes("shim6.opt.modifier", "Modifier"),
	opt_subnet_prefix = ProtoField.string("shim6.opt.subnet_prefix", "Subnet Prefix"),
	opt_collision_count = ProtoField.uint8("shim6.opt.collision_count", "Collision Count", base.DEC),
	opt_public_key_length = ProtoField.uint16("shim6.opt.public_key_length", "Public Key length", base.DEC),
	opt_public_key = ProtoField.bytes("shim6.opt.public_key", "Public Key"),
	opt_ext_type = ProtoField.uint16("shim6.opt.extensions.extension_type", "Extension Type", base.HEX,
		{ [0x0012] = "Multi-Prefix" }),
	opt_ext_length = ProtoField.uint16("shim6.opt.extensions.length", "Extension Data Length", base.DEC),
	opt_ext_p = ProtoField.bool("shim6.opt.extensions.p_flag", "P (public key included)", 8, nil, 0x80),
	opt_ext_reserved = ProtoField.bytes("shim6.opt.extensions.reserved", "Reserved"),
	opt_ext_prefix = ProtoField.string("shim6.opt.extensions.prefixes", "Prefix"),
	opt_ext_data = ProtoField.bytes("shim6.opt.extensions.data", "Extension Data"),
	opt_data = ProtoField.bytes("shim6.opt.data", "CGA Parameters (unreadable)"),
}

local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
shim6.fields = fields

-- Expert info, one per kind of rule; the names are shim6ctl decode's
-- violation kinds.
local function ex(kind, text, group)
	return ProtoExpert.new("shim6.expert." .. kind, text, group, expert.severity.ERROR)
end
local E = {
	truncated = ex("truncated", "Truncated", expert.group.MALFORMED),
	bad_length = ex("bad_length", "Bad length", expert.group.MALFORMED),
	bad_checksum = ex("bad_checksum", "Bad checksum", expert.group.CHECKSUM),
	p_bit = ex("p_bit", "Wrong P bit", expert.group.PROTOCOL),
	s_bit = ex("s_bit", "S bit set (HIP, not Shim6)", expert.group.PROTOCOL),
	unknown_type = ex("unknown_type", "Unknown message type", expert.group.PROTOCOL),
	unknown_critical_option = ex("unknown_critical_option", "Unknown critical option", expert.group.PROTOCOL),
	missing_option = ex("missing_option", "Missing mandatory option", expert.group.PROTOCOL),
	duplicate_option = ex("duplicate_option", "Duplicate option", expert.group.PROTOCOL),
	invalid_value = ex("invalid_value", "Invalid value", expert.group.PROTOCOL),
	too_big = ex("too_big", "Message too big", expert.group.PROTOCOL),
	-- Not a fault of the message (the codec keeps the structure opaque),
	-- but the HBA/CGA check will refuse it.
	cga_parameters = ProtoExpert.new("shim6.expert.cga_parameters", "CGA Parameters do not parse",
		expert.group.MALFORMED, expert.severity.WARN),
}
local experts = {}
for _, e in pairs(E) do experts[#experts + 1] = e end
shim6.experts = experts

-- What each message type is: the octets before the options and the options
-- it defines (RFC 5533 §5.4–§5.11, RFC 5534 §5.3), and which are mandatory.
local LOCATORS = { [2] = true, [3] = true, [4] = true, [5] = true, [10] = true }
local function set(base, more)
	local s = {}
	for k in pairs(base or {}) do s[k] = true end
	for _, k in ipairs(more or {}) do s[k] = true end
	return s
end
local specs = {
	[1] = { fixed = 16, allowed = set(nil, { 6, 7 }) },
	[2] = { fixed = 16, allowed = set(nil, { 1 }), need_rv = true },
	[3] = { fixed = 24, allowed = set(LOCATORS, { 1, 6, 7 }), need_rv = true, need_pds = true, need_sig = true },
	[4] = { fixed = 16, allowed = set(LOCATORS), need_pds = true, need_sig = true },
	[5] = { fixed = 16, allowed = set(nil, { 1 }), need_rv = true },
	[6] = { fixed = 32, allowed = set(LOCATORS, { 1, 6, 7 }), need_rv = true, need_pds = true, need_sig = true },
	[64] = { fixed = 16, allowed = set(LOCATORS), need_sig = true },
	[65] = { fixed = 16, allowed = {} },
	[66] = { fixed = 16, allowed = {} },
	[67] = { fixed = 16, allowed = {} },
	[68] = { fixed = 8, allowed = {} },
}
local MAX_MESSAGE = 1280 - 40 -- RFC 5533 §5.1, less the IPv6 header

local function type_name(t)
	return msg_names[t] or ("type " .. t)
end
local function opt_name(t)
	return opt_names[t] or ("option type " .. t)
end

-- The 47-bit tag in the six octets at r, without the bit above it (P or R).
local function tag(r)
	return UInt64.new(r:range(2, 4):uint(), band(r:range(0, 2):uint(), 0x7fff))
end

-- ipv6_text writes 16-bit groups the way RFC 5952 says (as Wireshark and
-- Go do): lower case, no leading zeros, the longest run of two or more zero
-- groups (the first, on a tie) as "::".
local function ipv6_text(g)
	local best, bestlen, i = -1, 1, 1
	while i <= #g do
		if g[i] == 0 then
			local j = i
			while j <= #g and g[j] == 0 do j = j + 1 end
			if j - i > bestlen then best, bestlen = i, j - i end
			i = j
		else
			i = i + 1
		end
	end
	local parts, k = {}, 1
	while k <= #g do
		if k == best then
			parts[#parts + 1] = (k == 1) and ":" or ""
			k = k + bestlen
			if k > #g then parts[#parts + 1] = "" end
		else
			parts[#parts + 1] = string.format("%x", g[k])
			k = k + 1
		end
	end
	return table.concat(parts, ":")
end

-- prefix64 shows the 8 octets at r as an IPv6 /64.
local function prefix64(r)
	local g = {}
	for i = 0, 3 do g[#g + 1] = r:range(2 * i, 2):uint() end
	for _ = 1, 4 do g[#g + 1] = 0 end
	return ipv6_text(g) .. "/64"
end

-- Every fault found in this packet, for the Info column.
local faults

local function fault(item, e, text)
	item:add_proto_expert_info(e, text)
	faults = faults + 1
end

-- The Internet checksum's one's complement sum over r, folded (RFC 1071);
-- skip names an octet offset whose two octets count as zero.
local function sum16(r, skip)
	local s, n = 0, r:len()
	local b = r:bytes()
	for i = 0, n - 1, 2 do
		if i ~= skip then
			local hi = b:get_index(i)
			local lo = (i + 1 < n) and b:get_index(i + 1) or 0
			s = s + hi * 256 + lo
		end
	end
	while s > 0xffff do s = band(s, 0xffff) + rshift(s, 16) end
	return s
end

-- cga_layout reads a CGA Parameters structure (RFC 3972 §3) as
-- control/wire's ParseCGAParameters does, or returns nil and why.
local function cga_layout(r)
	local L = r:len()
	if L < 25 then return nil, "fixed fields cut off" end
	if r:range(24, 1):uint() > 2 then return nil, "Collision Count above 2" end
	local b = L - 25
	if b < 2 then return nil, "no room for the public key's DER header" end
	if r:range(25, 1):uint() ~= 0x30 then return nil, "Public Key is not a DER SEQUENCE" end
	local l, hdr = r:range(26, 1):uint(), 2
	if l >= 0x80 then
		local k = band(l, 0x7f)
		if k == 0 or k > 3 then return nil, "indefinite or oversized DER length" end
		if b < 2 + k then return nil, "DER length octets cut off" end
		l = 0
		for i = 0, k - 1 do l = l * 256 + r:range(27 + i, 1):uint() end
		if r:range(27, 1):uint() == 0 or l < 0x80 then return nil, "DER length not minimally encoded" end
		hdr = hdr + k
	end
	if hdr + l > b then return nil, "DER SEQUENCE runs past the structure" end
	local lay = { key_len = hdr + l, exts = {} }
	local off = 25 + hdr + l
	while off < L do
		if L - off < 4 then return nil, "extension header cut off" end
		local typ, el = r:range(off, 2):uint(), r:range(off + 2, 2):uint()
		if el > L - off - 4 then return nil, "extension data runs past the structure" end
		if typ == 0x0012 and (el < 4 or (el - 4) % 8 ~= 0) then
			return nil, "Multi-Prefix Ext Len is not 4 plus a multiple of 8"
		end
		lay.exts[#lay.exts + 1] = { off = off, typ = typ, len = el }
		off = off + 4 + el
	end
	return lay
end

local function add_cga(t, r)
	local lay, why = cga_layout(r)
	if not lay then
		local item = t:add(F.opt_data, r)
		item:add_proto_expert_info(E.cga_parameters, "CGA Parameters: " .. why)
		return
	end
	t:add(F.opt_modifier, r:range(0, 16))
	t:add(F.opt_subnet_prefix, r:range(16, 8), prefix64(r:range(16, 8)))
	t:add(F.opt_collision_count, r:range(24, 1))
	t:add(F.opt_public_key_length, r:range(25, lay.key_len), lay.key_len):set_generated()
	t:add(F.opt_public_key, r:range(25, lay.key_len))
	for _, x in ipairs(lay.exts) do
		local et = t:add(r:range(x.off, 4 + x.len), string.format("Extension 0x%04x", x.typ))
		et:add(F.opt_ext_type, r:range(x.off, 2))
		et:add(F.opt_ext_length, r:range(x.off + 2, 2))
		if x.typ == 0x0012 then
			et:append_text(" (Multi-Prefix, RFC 5535 §5)")
			et:add(F.opt_ext_p, r:range(x.off + 4, 1))
			et:add(F.opt_ext_reserved, r:range(x.off + 4, 4))
			for i = 0, (x.len - 4) / 8 - 1 do
				local pr = r:range(x.off + 8 + 8 * i, 8)
				et:add(F.opt_ext_prefix, pr, prefix64(pr))
			end
		elseif x.len > 0 then
			et:add(F.opt_ext_data, r:range(x.off + 4, x.len))
		end
	end
end

-- An option's contents, c, as far as they go, under the option's item ot;
-- whole says all Length octets are there, so that the length rules apply
-- (a cut option is shown, not judged); lenitem is the Length field's item,
-- where a length fault is raised. It returns the verification methods of a
-- Locator List, for the CGA Signature rule.
local function add_known(ot, typ, c, whole, lenitem)
	local n = c:len()
	local function exact(want)
		if n ~= want and whole then
			fault(lenitem, E.bad_length, "Length " .. n .. ", must be " .. want)
		end
		if n < want then
			if n > 0 then ot:add(F.opt_contents, c) end
			return false
		end
		return true
	end
	-- atleast is exact for options whose Length may run past their
	-- fixed part (Locator List, Locator Preferences).
	local function atleast(want)
		if n >= want then return true end
		if whole then
			fault(lenitem, E.bad_length, "Length " .. n .. " below the " .. want .. " fixed octets")
		end
		if n > 0 then ot:add(F.opt_contents, c) end
		return false
	end
	if typ == 1 then
		if n > 0 then ot:add(F.opt_validator, c) end
	elseif typ == 5 then
		if n > 0 then ot:add(F.opt_signature, c) end
	elseif typ == 4 then
		add_cga(ot, c)
	elseif typ == 6 then
		if exact(36) then
			ot:add(F.reserved, c:range(0, 4))
			ot:add(F.opt_sender_ulid, c:range(4, 16))
			ot:add(F.opt_receiver_ulid, c:range(20, 16))
		end
	elseif typ == 7 then
		if exact(4) then ot:add(F.opt_fii, c:range(0, 4)) end
	elseif typ == 10 then
		if exact(4) then
			ot:add(F.reserved, c:range(0, 2))
			ot:add(F.opt_keepalive, c:range(2, 2))
		end
	elseif typ == 2 then
		if not atleast(5) then return end
		ot:add(F.opt_generation, c:range(0, 4))
		local k = c:range(4, 1):uint()
		local numitem = ot:add(F.opt_num_locators, c:range(4, 1))
		-- Locators start 8-octet aligned in the message: Length counts the
		-- padding after the methods (RFC 5533 §5.15.2).
		local lo = math.floor((4 + 5 + k + 7) / 8) * 8 - 4
		if whole then
			if k == 0 then
				fault(numitem, E.invalid_value, "Num Locators is 0")
			elseif n ~= lo + 16 * k then
				fault(lenitem, E.bad_length, "Length " .. n .. ", " .. k ..
					" locators with internal padding need " .. (lo + 16 * k))
			end
		end
		local methods = {}
		for i = 0, k - 1 do
			if 5 + i >= n then break end
			ot:add(F.opt_method, c:range(5 + i, 1))
			methods[#methods + 1] = c:range(5 + i, 1):uint()
		end
		local ps, pe = math.min(5 + k, n), math.min(lo, n)
		if pe > ps then ot:add(F.opt_internal_padding, c:range(ps, pe - ps)) end
		for i = 0, k - 1 do
			if lo + 16 * (i + 1) > n then break end
			ot:add(F.opt_locator, c:range(lo + 16 * i, 16))
		end
		return methods
	elseif typ == 3 then
		if not atleast(5) then return end
		ot:add(F.opt_generation, c:range(0, 4))
		local e = c:range(4, 1):uint()
		local elitem = ot:add(F.opt_element_length, c:range(4, 1))
		if e == 0 then
			if whole then fault(elitem, E.invalid_value, "Element Len is 0") end
			return
		end
		if (n - 5) % e ~= 0 and whole then
			fault(lenitem, E.bad_length, "Length " .. n .. " is not 5 plus a multiple of element length " .. e)
		end
		local off, i = 5, 1
		while n - off >= e do
			local et = ot:add(c:range(off, e), "Element " .. i)
			local fl = et:add(F.opt_flags, c:range(off, 1))
			fl:add(F.opt_broken, c:range(off, 1))
			fl:add(F.opt_transient, c:range(off, 1))
			if e >= 2 then et:add(F.opt_priority, c:range(off + 1, 1)) end
			if e >= 3 then et:add(F.opt_weight, c:range(off + 2, 1)) end
			if e > 3 then et:add(F.opt_element_reserved, c:range(off + 3, e - 3)) end
			off, i = off + e, i + 1
		end
	end
end

-- The options area msg(off, n - off); claimed is the length Hdr Ext Len
-- gives, which n falls short of when the packet was cut.
local function add_options(t, msg, off, n, claimed, mt, sp)
	local seen, present, methods = {}, {}, {}
	while off < n do
		if n - off < 4 then
			local item = t:add(F.trailing, msg:range(off, n - off))
			if n == claimed then
				fault(item, E.bad_length, "only " .. (n - off) .. " octets left in the message")
			end
			break
		end
		local tc = msg:range(off, 2):uint()
		local typ, crit = rshift(tc, 1), band(tc, 1) ~= 0
		local l = msg:range(off + 2, 2):uint()
		local total = math.floor((4 + l + 7) / 8) * 8
		local defined = sp.allowed[typ] == true
		local ot = t:add(msg:range(off, math.min(total, n - off)), "Option: " .. opt_name(typ))
		ot:add(F.opt_type, msg:range(off, 2))
		ot:add(F.opt_critical, msg:range(off, 2))
		local lenitem = ot:add(F.opt_length, msg:range(off + 2, 2))
		local cend = math.min(off + 4 + l, n)
		local pend = math.min(off + total, n)
		local c = msg:range(off + 4, cend - off - 4)
		local overrun = total > claimed - off
		if overrun then
			fault(lenitem, E.bad_length, "Length " .. l .. " needs " .. total .. " octets, message has " ..
				(claimed - off) .. " left")
		end
		if not defined then
			if crit then
				ot:append_text(" (not understood, critical)")
				fault(ot, E.unknown_critical_option, "C=1 and the option is not defined for " .. type_name(mt))
			else
				ot:append_text(" (not understood, ignored)")
			end
			if c:len() > 0 then ot:add(F.opt_contents, c) end
		else
			if seen[typ] then
				fault(ot, E.duplicate_option, opt_name(typ) .. " appears twice")
			end
			seen[typ] = true
			present[typ] = true
			local m = add_known(ot, typ, c, c:len() == l, lenitem)
			if typ == 2 and m then
				for _, v in ipairs(m) do methods[#methods + 1] = v end
			end
		end
		if pend > cend then ot:add(F.opt_padding, msg:range(cend, pend - cend)) end
		if overrun then break end
		off = off + total
	end
	return present, methods
end

-- The rules on options that must come together (RFC 5533 §5.5–§5.10).
local function check_required(t, mt, sp, present, methods)
	if sp.need_rv and not present[1] then
		fault(t, E.missing_option, "Responder Validator option mandatory in " .. type_name(mt))
	end
	if present[2] and sp.need_pds and not present[4] then
		fault(t, E.missing_option, "CGA Parameter Data Structure option mandatory with a Locator List in " .. type_name(mt))
	end
	local cga = false
	for _, v in ipairs(methods) do cga = cga or v == 2 end
	if present[2] and sp.need_sig and not present[5] and cga then
		fault(t, E.missing_option, "CGA Signature option mandatory when a listed locator uses CGA verification")
	end
end

local function add_report(t, r, which, i)
	local rt = t:add(r, string.format("%s probe report %d", which, i))
	local pre = (which == "Sent") and "sent_" or "received_"
	rt:add(F[pre .. "source"], r:range(0, 16))
	rt:add(F[pre .. "destination"], r:range(16, 16))
	rt:add(F[pre .. "nonce"], r:range(32, 4))
	rt:add(F[pre .. "data"], r:range(36, 4))
end

-- The fixed part of each type (RFC 5533 §5.4–§5.14, RFC 5534 §5.1–§5.2).
local function add_fixed(t, msg, mt, n, claimed)
	local function tagf(f, o) t:add(F[f], msg:range(o, 6), tag(msg:range(o, 6))) end
	local opt_start = specs[mt].fixed
	if mt == 1 then
		tagf("initiator_context_tag", 6); t:add(F.initiator_nonce, msg:range(12, 4))
	elseif mt == 2 then
		t:add(F.reserved, msg:range(6, 2))
		t:add(F.initiator_nonce, msg:range(8, 4)); t:add(F.responder_nonce, msg:range(12, 4))
	elseif mt == 3 then
		tagf("initiator_context_tag", 6); t:add(F.initiator_nonce, msg:range(12, 4))
		t:add(F.responder_nonce, msg:range(16, 4)); t:add(F.reserved, msg:range(20, 4))
	elseif mt == 4 then
		tagf("responder_context_tag", 6); t:add(F.initiator_nonce, msg:range(12, 4))
	elseif mt == 5 then
		tagf("packet_context_tag", 6); t:add(F.responder_nonce, msg:range(12, 4))
	elseif mt == 6 then
		tagf("initiator_context_tag", 6); t:add(F.initiator_nonce, msg:range(12, 4))
		t:add(F.responder_nonce, msg:range(16, 4)); t:add(F.reserved, msg:range(20, 6))
		tagf("packet_context_tag", 26)
	elseif mt == 64 or mt == 65 then
		tagf("receiver_context_tag", 6); t:add(F.request_nonce, msg:range(12, 4))
	elseif mt == 66 then
		tagf("receiver_context_tag", 6); t:add(F.reserved, msg:range(12, 4))
	elseif mt == 67 then
		tagf("receiver_context_tag", 6)
		local counts = msg:range(12, 1):uint()
		local precvd, psent = rshift(counts, 4), band(counts, 0x0f)
		t:add(F.precvd, msg:range(12, 1))
		local psitem = t:add(F.psent, msg:range(12, 1))
		local stitem = t:add(F.state, msg:range(13, 1))
		t:add(F.reserved, msg:range(13, 3))
		if psent == 0 then fault(psitem, E.invalid_value, "the probe itself must be reported; Psent is 0") end
		if rshift(msg:range(13, 1):uint(), 6) == 3 then fault(stitem, E.invalid_value, "State is 3; legal values are 0, 1, 2") end
		opt_start = opt_start + 40 * (psent + precvd)
		if opt_start > claimed then
			fault(psitem, E.bad_length, (psent + precvd) .. " reports need " .. opt_start ..
				" octets, message has " .. claimed)
		end
		local off = 16
		for i = 1, psent + precvd do
			if off + 40 > n then break end
			if i <= psent then
				add_report(t, msg:range(off, 40), "Sent", i)
			else
				add_report(t, msg:range(off, 40), "Received", i - psent)
			end
			off = off + 40
		end
	elseif mt == 68 then
		t:add(F.error_code, msg:range(3, 1))
		t:add(F.pointer, msg:range(6, 2))
		t:add(F.packet_in_error_length, n - 8):set_generated()
		if n > 8 then t:add(F.packet_in_error, msg:range(8, n - 8)) end
	end
	return opt_start
end

local function dissect_control(tvb, pinfo, tree)
	local avail = tvb:len()
	if avail < 8 then
		local t = tree:add(shim6, tvb(), "Shim6 control message, cut short")
		fault(t, E.truncated, "need 8 octets, have " .. avail)
		pinfo.cols.info = "Shim6 control message, cut short"
		return avail
	end
	local claimed = (tvb(1, 1):uint() + 1) * 8
	local cut = claimed > avail
	local n = math.min(claimed, avail)
	-- A Tvb of its own, not a TvbRange: a range may not start at its end,
	-- and an option or field may be empty there.
	local msg = tvb:range(0, n):tvb()
	local mt = band(tvb(2, 1):uint(), 0x7f)
	local t = tree:add(shim6, msg)
	t:append_text(", " .. type_name(mt))
	pinfo.cols.info = "Shim6 " .. type_name(mt)

	local nhitem = t:add(F.next_header, tvb(0, 1))
	local helitem = t:add(F.hdr_ext_len, tvb(1, 1))
	local pitem = t:add(F.p, tvb(2, 1))
	local titem = t:add(F.type, tvb(2, 1))
	t:add(F.type_specific, tvb(3, 1))
	local sitem = t:add(F.s, tvb(3, 1))
	local citem = t:add(F.checksum, tvb(4, 2))
	t:add(F.length, tvb(1, 1), claimed):set_generated()

	-- The checks in the order control/wire makes them.
	if band(tvb(2, 1):uint(), 0x80) ~= 0 then
		fault(pitem, E.p_bit, "payload extension header where a control message was expected")
	end
	if cut then
		fault(helitem, E.truncated, "message claims " .. claimed .. " octets, packet holds " .. avail)
	end
	if claimed > MAX_MESSAGE then
		fault(helitem, E.too_big, claimed .. " octets exceeds " .. MAX_MESSAGE)
	end
	if not cut then
		local ok = sum16(msg, -1) == 0xffff
		t:add(F.checksum_ok, tvb(4, 2), ok):set_generated()
		if not ok then
			local want = 0xffff - sum16(msg, 4)
			t:add(F.checksum_expected, tvb(4, 2), want):set_generated()
			fault(citem, E.bad_checksum, string.format("carries 0x%04x, message sums to 0x%04x", tvb(4, 2):uint(), want))
		end
	end
	if band(tvb(3, 1):uint(), 0x01) ~= 0 then
		fault(sitem, E.s_bit, "a HIP message, not Shim6")
	end
	local sp = specs[mt]
	if not sp then
		fault(titem, E.unknown_type, "type " .. mt .. " is not in RFC 5533 Table 1")
		return n
	end
	if tvb(0, 1):uint() ~= 59 then
		fault(nhitem, E.invalid_value, "is " .. tvb(0, 1):uint() .. ", control messages carry 59")
	end
	local min_len = math.max(sp.fixed, 16)
	if claimed < min_len then
		fault(helitem, E.bad_length, "message of " .. claimed .. " octets is shorter than the " .. min_len ..
			" octets " .. type_name(mt) .. " needs")
	end
	if n < sp.fixed then
		return n
	end
	local opt_start = add_fixed(t, msg, mt, n, claimed)
	if mt == 68 then
		return n
	end
	local present, methods = {}, {}
	if opt_start < n then
		present, methods = add_options(t, msg, opt_start, n, claimed, mt, sp)
	end
	if not cut then
		check_required(t, mt, sp, present, methods)
	end
	return n
end

local ip_proto = DissectorTable.get("ip.proto")

local function dissect_payload(tvb, pinfo, tree)
	local avail = tvb:len()
	if avail < 8 then
		local t = tree:add(shim6, tvb(), "Shim6 payload extension header, cut short")
		fault(t, E.truncated, "need 8 octets, have " .. avail)
		return avail
	end
	local t = tree:add(shim6, tvb(0, 8))
	t:append_text(", payload extension header")
	-- The ULP's dissector writes over this when there is one.
	pinfo.cols.info = "Shim6 payload, context tag 0x" .. tag(tvb(2, 6)):tohex():sub(5)
	t:add(F.next_header, tvb(0, 1))
	local helitem = t:add(F.hdr_ext_len, tvb(1, 1))
	t:add(F.p, tvb(2, 1))
	t:add(F.context_tag, tvb(2, 6), tag(tvb(2, 6)))
	if tvb(1, 1):uint() ~= 0 then
		fault(helitem, E.bad_length, "is " .. tvb(1, 1):uint() .. ", must be 0")
		return avail
	end
	if avail > 8 then
		-- The ULP follows, as after any IPv6 extension header.
		ip_proto:try(tvb(0, 1):uint(), tvb(8):tvb(), pinfo, tree)
	end
	return avail
end

function shim6.dissector(tvb, pinfo, tree)
	faults = 0
	pinfo.cols.protocol = "Shim6"
	local n
	if tvb:len() >= 3 and band(tvb(2, 1):uint(), 0x80) ~= 0 then
		n = dissect_payload(tvb, pinfo, tree)
	else
		n = dissect_control(tvb, pinfo, tree)
	end
	if faults > 0 then
		pinfo.cols.info:append(string.format(" [%d fault%s]", faults, faults == 1 and "" or "s"))
	end
	return n
end

-- Next Header 140 (RFC 5533 §5), in place of the built-in dissector.
ip_proto:add(140, shim6)
