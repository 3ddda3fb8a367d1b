package probe

// hostApps maps a domain (matched on label boundaries, so "google.com" also
// matches "www.google.com" but not "notgoogle.com") to the MMT application
// id. The longest matching suffix wins: "mail.google.com" is GMAIL.
var hostApps = map[string]uint16{
	// Google
	"google.com": idGoogle, "google.co.uk": idGoogle, "google.de": idGoogle, "google.fr": idGoogle,
	"googleapis.com": idGoogle, "gstatic.com": idGoogle, "gvt1.com": idGoogle, "gvt2.com": idGoogle,
	"googletagmanager.com": idGoogle, "google-analytics.com": idGoogle, "doubleclick.net": idGoogle,
	"googlesyndication.com": idGoogle, "googleadservices.com": idGoogle, "gmail.com": idGmail,
	"mail.google.com": idGmail, "maps.google.com": idGoogleMaps, "maps.googleapis.com": idGoogleMaps,
	"googleusercontent.com": idGoogleUserContent, "ggpht.com": idGoogleUserContent,
	"1e100.net": idGoogle, "android.com": idGoogle, "withgoogle.com": idGoogle,
	// YouTube
	"youtube.com": idYouTube, "ytimg.com": idYouTube, "youtu.be": idYouTube,
	"googlevideo.com": idYouTube, "youtube-nocookie.com": idYouTube, "youtubei.googleapis.com": idYouTube,
	// Meta
	"facebook.com": idFacebook, "fb.com": idFacebook, "fbcdn.net": idFacebook, "facebook.net": idFacebook,
	"fbsbx.com": idFacebook, "messenger.com": idFacebook, "meta.com": idFacebook,
	"instagram.com": idInstagram, "cdninstagram.com": idInstagram,
	"whatsapp.com": idWhatsApp, "whatsapp.net": idWhatsApp, "wa.me": idWhatsApp,
	// Netflix
	"netflix.com": idNetflix, "netflix.net": idNetflix, "nflxvideo.net": idNetflix,
	"nflximg.net": idNetflix, "nflximg.com": idNetflix, "nflxext.com": idNetflix, "nflxso.net": idNetflix,
	// Amazon
	"amazon.com": idAmazon, "amazon.co.uk": idAmazon, "amazon.de": idAmazon, "amazon.fr": idAmazon,
	"amazon.it": idAmazon, "amazon.es": idAmazon, "amazon.ca": idAmazon, "amazon.co.jp": idAmazon,
	"media-amazon.com": idAmazon, "ssl-images-amazon.com": idAmazon, "amazon-adsystem.com": idAmazon,
	"primevideo.com": idAmazon, "aiv-cdn.net": idAmazon,
	"amazonaws.com": idAWS, "aws.amazon.com": idAWS, "awsstatic.com": idAWS, "amazontrust.com": idAWS,
	// Apple
	"apple.com": idApple, "cdn-apple.com": idApple, "apple-dns.net": idApple, "aaplimg.com": idApple,
	"icloud.com": idICloud, "icloud-content.com": idICloud, "me.com": idICloud,
	"mzstatic.com": idITunes, "itunes.apple.com": idITunes, "itunes.com": idITunes,
	// Microsoft
	"microsoft.com": idMicrosoft, "windows.com": idMicrosoft, "windowsupdate.com": idMicrosoft,
	"windows.net": idMicrosoft, "msftconnecttest.com": idMicrosoft, "msedge.net": idMicrosoft,
	"office.com": idMicrosoft, "office.net": idMicrosoft, "office365.com": idMicrosoft,
	"microsoftonline.com": idMicrosoft, "msauth.net": idMicrosoft, "azure.com": idMicrosoft,
	"azureedge.net": idMicrosoft, "msn.com": idMicrosoft, "sharepoint.com": idMicrosoft,
	"live.com": idWindowsLive, "live.net": idWindowsLive, "outlook.com": idHotmail, "hotmail.com": idHotmail,
	"bing.com": idBing, "bing.net": idBing, "skype.com": idSkype, "skypeassets.com": idSkype,
	"xbox.com": idXbox, "xboxlive.com": idXbox,
	// Twitter / X
	"twitter.com": idTwitter, "twimg.com": idTwitter, "t.co": idTwitter, "x.com": idTwitter,
	// Storage, code, knowledge
	"dropbox.com": idDropbox, "dropboxusercontent.com": idDropbox, "dropboxstatic.com": idDropbox,
	"dropboxapi.com": idDropbox,
	"github.com":     idGitHub, "githubusercontent.com": idGitHub, "github.io": idGitHub,
	"githubassets.com": idGitHub, "ghcr.io": idGitHub,
	"wikipedia.org": idWikipedia, "wikimedia.org": idWikipedia, "wikidata.org": idWikipedia,
	"wiktionary.org": idWikipedia,
	// CDNs
	"akamai.net": idAkamai, "akamaiedge.net": idAkamai, "akamaihd.net": idAkamai,
	"akamaized.net": idAkamai, "edgekey.net": idAkamai, "edgesuite.net": idAkamai,
	"akamaitechnologies.com": idAkamai, "akamai.com": idAkamai, "akadns.net": idAkamai,
	"cloudfront.net": idCloudFront,
	"fastly.net":     idFastly, "fastlylb.net": idFastly, "fastly.com": idFastly, "fastly-edge.com": idFastly,
	"edgecastcdn.net": idEdgeCast, "llnwd.net": idLimelight, "llnw.net": idLimelight,
	"cdn77.org": idCDN77, "cdn77.com": idCDN77, "footprint.net": idLevel3,
	// Others with an MMT id
	"linkedin.com": idLinkedIn, "licdn.com": idLinkedIn, "yahoo.com": idYahoo, "yimg.com": idYahoo,
	"ebay.com": idEbay, "ebayimg.com": idEbay, "paypal.com": idPayPal, "paypalobjects.com": idPayPal,
	"reddit.com": idReddit, "redd.it": idReddit, "redditmedia.com": idReddit, "redditstatic.com": idReddit,
	"pinterest.com": idPinterest, "pinimg.com": idPinterest, "spotify.com": idSpotify,
	"scdn.co": idSpotify, "spotifycdn.com": idSpotify, "steampowered.com": idSteam,
	"steamcommunity.com": idSteam, "steamstatic.com": idSteam, "teamviewer.com": idTeamViewer,
	"tumblr.com": idTumblr, "vimeo.com": idVimeo, "vimeocdn.com": idVimeo,
	"dailymotion.com": idDailymotion, "dmcdn.net": idDailymotion, "deezer.com": idDeezer,
	"dzcdn.net": idDeezer, "soundcloud.com": idSoundCloud, "sndcdn.com": idSoundCloud,
	"imgur.com": idImgur, "mozilla.org": idMozilla, "mozilla.net": idMozilla, "mozilla.com": idMozilla,
	"firefox.com": idMozilla, "baidu.com": idBaidu, "bdstatic.com": idBaidu, "bbc.co.uk": idBBC,
	"bbc.com": idBBC, "bbci.co.uk": idBBC, "cnn.com": idCNN, "cnn.io": idCNN, "adobe.com": idAdobe,
	"adobe.io": idAdobe, "wordpress.org": idWordPress, "wordpress.com": idWordPress, "wp.com": idWordPress,
	"blogger.com": idBlogger, "blogspot.com": idBlogger, "playstation.com": idPlayStation,
	"playstation.net": idPlayStation,
}

// maxHostLen bounds the host names looked up (DNS allows 253).
const maxHostLen = 253

// hostApp maps a host name (an HTTP Host, a TLS SNI, a DNS name) to its
// MMT application id, 0 when unknown. A port after the name, a trailing dot
// and letter case are ignored. It does not allocate.
func hostApp(name []byte) uint16 {
	var buf [maxHostLen]byte
	n := 0
	for _, c := range name {
		if c == ':' {
			break
		}
		if n == len(buf) {
			return 0
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	for n > 0 && buf[n-1] == '.' {
		n--
	}
	h := buf[:n]
	for i := 0; i < len(h); i++ {
		if i == 0 || h[i-1] == '.' {
			if id, ok := hostApps[string(h[i:])]; ok {
				return id
			}
		}
	}
	return 0
}
