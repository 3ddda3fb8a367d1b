package probe

import "strconv"

//go:generate go run gen_protocol_ids.go

// protocolInfo is one row of the MMT protocol table.
type protocolInfo struct {
	name     string
	category uint8
}

// MMT protocol ids the probe puts in paths (see shared/MMT.md and
// testdata/mmt_protocol_ids.csv; protocol_ids.go holds the full table).
const (
	idUnknown           = 0
	idAdobe             = 13
	idAmazon            = 21
	idApple             = 27
	idARP               = 30
	idAWS               = 35
	idBaidu             = 38
	idBBC               = 45
	idBing              = 51
	idBitTorrent        = 52
	idBlogger           = 55
	idCNN               = 68
	idDailymotion       = 77
	idDHCP              = 81
	idDHCPv6            = 82
	idDNS               = 85
	idDropbox           = 90
	idEbay              = 91
	idESP               = 97
	idEthernet          = 99
	idFacebook          = 103
	idFTP               = 117
	idGitHub            = 125
	idGmail             = 128
	idGoogleMaps        = 130
	idGoogle            = 134
	idGoogleUserContent = 135
	idGRE               = 137
	idHotmail           = 152
	idHTTP              = 153
	idICloud            = 162
	idICMP              = 163
	idICMPv6            = 164
	idIGMP              = 166
	idIMAP              = 169
	idImgur             = 174
	idInstagram         = 177
	idIP                = 178
	idIPv6              = 182
	idITunes            = 185
	idLinkedIn          = 202
	idMicrosoft         = 222
	idMDNS              = 218
	idMozilla           = 230
	idMySQL             = 237
	idNetBIOS           = 241
	idNetflix           = 242
	idNTP               = 251
	idOSPF              = 260
	idPayPal            = 264
	idPinterest         = 269
	idPlayStation       = 270
	idPOP               = 272
	idPostgres          = 276
	idPPPoE             = 279
	idRDP               = 290
	idReddit            = 292
	idRTP               = 298
	idRTSP              = 299
	idSCTP              = 304
	idSIP               = 314
	idSkype             = 317
	idSMB               = 322
	idSMTP              = 323
	idSNMP              = 325
	idSoundCloud        = 333
	idSpotify           = 337
	idSSDP              = 339
	idSSH               = 340
	idSSL               = 341
	idSteam             = 345
	idSTUN              = 347
	idSyslog            = 349
	idTCP               = 354
	idTeamViewer        = 356
	idTelnet            = 357
	idTFTP              = 358
	idTumblr            = 370
	idTwitter           = 373
	idUDP               = 376
	idVNC               = 388
	idVimeo             = 385
	idVLAN              = 7
	idWhatsApp          = 397
	idWikipedia         = 401
	idWindowsLive       = 403
	idWordPress         = 408
	idXbox              = 413
	idYahoo             = 420
	idYouTube           = 427
	idSTP               = 531
	idVRRP              = 543
	idDeezer            = 578
	idCloudFront        = 593
	idAkamai            = 599
	idCDN77             = 603
	idEdgeCast          = 607
	idFastly            = 608
	idLevel3            = 611
	idLimelight         = 612
	idQUIC              = 627
	idLLMNR             = 634
	idLoopback          = 636
	idLLC               = 641
	idQinQ              = 656
	idMQTT              = 657
	idQUICIETF          = 661
	idHTTP2             = 700
)

// categoryNames are the MMT application families (FlowRow.AppFamily).
var categoryNames = [...]string{
	"Unknown", "Web", "P2P", "Gaming", "Streaming", "Conversational", "Mail",
	"FileTransfer", "CloudStorage", "DirectDownloadLink", "Network",
	"Tunnelling", "DataBase", "Remote", "Misc", "CDN",
}

// ProtocolName is the MMT name of a protocol id ("TCP", "GOOGLE"), or the
// id in decimal when the table has no name for it.
func ProtocolName(id uint32) string {
	if id < uint32(len(protocols)) && protocols[id].name != "" {
		return protocols[id].name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// ProtocolCategory is the MMT category id (application family, 0 to 15) of
// a protocol id, 0 when unknown.
func ProtocolCategory(id uint32) uint8 {
	if id < uint32(len(protocols)) {
		return protocols[id].category
	}
	return 0
}

// CategoryName is the name of an MMT category id ("Web", "CDN").
func CategoryName(category uint8) string {
	if int(category) < len(categoryNames) {
		return categoryNames[category]
	}
	return strconv.Itoa(int(category))
}

// PathName turns a dotted path of ids into dotted names:
// "99.178.354.153.134" becomes "ETHERNET.IP.TCP.HTTP.GOOGLE". Parts that are
// not numbers are kept as they are.
func PathName(path string) string {
	b := make([]byte, 0, len(path)*3)
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		if start > 0 {
			b = append(b, '.')
		}
		part := path[start:i]
		if id, err := strconv.ParseUint(part, 10, 32); err == nil {
			b = append(b, ProtocolName(uint32(id))...)
		} else {
			b = append(b, part...)
		}
		start = i + 1
	}
	return string(b)
}
