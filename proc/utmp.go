package proc

// UtmpFile is where glibc records who is logged in (_PATH_UTMP); on most
// systems /var/run is a link to /run.
const UtmpFile = "/var/run/utmp"

// utmpAltFile is tried when UtmpFile is missing: a root where /var/run is
// not the link to /run it usually is.
const utmpAltFile = "/run/utmp"

// UtmpRecordSize is the size of glibc's struct utmp on Linux: 384 bytes on
// every architecture, 64-bit ones included (ut_tv is kept as two int32 there
// for compatibility with 32-bit programs).
const UtmpRecordSize = 384

// Offsets in struct utmp: ut_type (short) at 0, ut_user (char[32]) at 44.
const (
	utmpTypeOffset = 0
	utmpUserOffset = 44
	utmpUserLen    = 32
	utmpUserProc   = 7 // USER_PROCESS
)

// CountUtmpUsers counts the logged-in users in the content of a utmp file
// the way procps uptime does: records of type USER_PROCESS whose ut_user is
// not empty. ut_type is a native-endian short and the file may come from a
// big-endian router over SSH, so both byte orders are accepted: the bytes
// 07 00 (little endian) and 00 07 (big endian) are the only spellings of 7.
//
// A length that is not a multiple of 384 means the data was cut short or is
// no utmp: the complete records are still counted, and an ErrParse error is
// returned beside the count.
func CountUtmpUsers(data []byte) (int, error) {
	n := 0
	for len(data) >= UtmpRecordSize {
		rec := data[:UtmpRecordSize]
		data = data[UtmpRecordSize:]
		t0, t1 := rec[utmpTypeOffset], rec[utmpTypeOffset+1]
		isUser := (t0 == utmpUserProc && t1 == 0) || (t0 == 0 && t1 == utmpUserProc)
		if isUser && rec[utmpUserOffset] != 0 {
			n++
		}
	}
	if len(data) != 0 {
		return n, fileError(UtmpFile, "size is not a multiple of 384 bytes")
	}
	return n, nil
}

// ReadUsers reads the utmp file of src into buf (reused, returned grown) and
// counts its users with [CountUtmpUsers].
//
// A missing utmp counts as 0 users, not as an error: musl systems such as
// OpenWrt keep no utmp at all, containers and some newer systemd systems
// have none, and procps uptime then prints "0 users" too. A utmp that exists
// but cannot be read (permissions) is an error. A truncated file counts its
// complete records and is no error here: utmp is rewritten in place, so a
// reader can catch it mid-write.
func ReadUsers(src Source, buf []byte) (int, []byte, error) {
	var err error
	buf, err = AppendFile(src, buf[:0], UtmpFile)
	if err != nil && IsNotExist(err) {
		buf, err = AppendFile(src, buf[:0], utmpAltFile)
	}
	if err != nil {
		if IsNotExist(err) {
			return 0, buf, nil
		}
		return 0, buf, err
	}
	n, _ := CountUtmpUsers(buf)
	return n, buf, nil
}
