// DICOS (NEMA IIC 1, the DICOM profile for security screening) through
// DCMTK, behind the C functions of xray_int.h. Only this file is C++: no
// exception or C++ type crosses the extern "C" boundary.
//
// The sidecar's members travel in standard attributes where DICOS has one
// (Scan ID, OOI ID, acquisition time, device serial number, pixel spacing)
// and in a private block "CUSTOMS XRAY 1" of group 0011 for the rest;
// docs/xray.md has the table.
#include "xray_int.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/oflog/oflog.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

const char k_creator[] = "CUSTOMS XRAY 1";
const Uint16 k_group = 0x0011;
enum : Uint16 {
    k_open_beam = 0x01,
    k_mu = 0x02,
    k_orientation = 0x03,
    k_declaration = 0x04,
    k_declared_empty = 0x05,
    k_declared_mass = 0x06,
};

void dicos_init()
{
    static std::once_flag once;
    // DCMTK logs warnings about odd files to stderr; the caller gets errors.
    std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

bool is_dicos_dx(const OFString &sop)
{
    return sop == UID_DICOS_DigitalXRayImageStorageForProcessing ||
           sop == UID_DICOS_DigitalXRayImageStorageForPresentation;
}

// A string attribute, whatever its VR (an implicit-VR private element
// arrives as UN: its bytes are the text).
bool get_text(DcmItem *ds, const DcmTagKey &key, std::string &out)
{
    DcmElement *el = nullptr;
    if (ds->findAndGetElement(key, el).bad() || !el)
        return false;
    OFString s;
    DcmEVR vr = el->ident();
    if (vr == EVR_UN || vr == EVR_OB) {
        Uint8 *b = nullptr;
        if (el->getUint8Array(b).bad() || !b)
            return false;
        s = OFString(reinterpret_cast<const char *>(b), el->getLength());
    } else if (el->getOFStringArray(s).bad()) {
        return false;
    }
    size_t a = s.find_first_not_of(" \0", 0, 2), z = s.find_last_not_of(" \0", OFString_npos, 2);
    out = a == OFString_npos ? std::string() : std::string(s.c_str() + a, z - a + 1);
    return !out.empty();
}

void put_string(json_t *o, const char *name, const std::string &v)
{
    json_object_set_new(o, name, json_stringn(v.data(), v.size()));
}

// A decimal string as a JSON number; kept as a string when it is not one,
// so that the sidecar check names the member.
void put_number(json_t *o, const char *name, const std::string &v)
{
    double d;
    if (cx_parse_double(v.c_str(), &d) && std::isfinite(d))
        json_object_set_new(o, name, json_real(d));
    else
        put_string(o, name, v);
}

// DICOM DT (YYYYMMDDHHMMSS[.F{1,6}][&ZZXX]) or DA + TM as RFC 3339. Without
// an offset the time is read as UTC (docs/xray.md).
bool dt_to_rfc3339(const std::string &dt, const std::string &tzo, std::string &out)
{
    if (dt.size() < 14)
        return false;
    for (size_t i = 0; i < 14; i++)
        if (dt[i] < '0' || dt[i] > '9')
            return false;
    std::string frac, zone = "Z";
    size_t i = 14;
    if (i < dt.size() && dt[i] == '.') {
        size_t j = i + 1;
        while (j < dt.size() && j < i + 7 && dt[j] >= '0' && dt[j] <= '9')
            j++;
        frac = dt.substr(i, j - i);
        i = j;
    }
    std::string off = i < dt.size() ? dt.substr(i) : tzo;
    if (off.size() == 5 && (off[0] == '+' || off[0] == '-'))
        zone = off.substr(0, 3) + ":" + off.substr(3, 2);
    else if (!off.empty())
        return false;
    out = dt.substr(0, 4) + "-" + dt.substr(4, 2) + "-" + dt.substr(6, 2) + "T" + dt.substr(8, 2) +
          ":" + dt.substr(10, 2) + ":" + dt.substr(12, 2) + frac + zone;
    int64_t us;
    return cx_rfc3339_parse(out.c_str(), &us) == CX_OK;
}

// The element number base (0xbb00) of our private block, or 0.
Uint16 private_block(DcmItem *ds)
{
    for (Uint16 e = 0x10; e <= 0xff; e++) {
        std::string v;
        if (get_text(ds, DcmTagKey(k_group, e), v) && v == k_creator)
            return static_cast<Uint16>(e << 8);
    }
    return 0;
}

json_t *meta_from(DcmItem *ds)
{
    json_t *o = json_object();
    std::string v, w;
    if (get_text(ds, DCM_StudyID, v)) // DICOS: Scan ID
        put_string(o, "scan_id", v);
    if (get_text(ds, DCM_PatientID, v)) // DICOS: OOI ID
        put_string(o, "container", v);
    std::string tzo;
    get_text(ds, DCM_TimezoneOffsetFromUTC, tzo);
    std::string t;
    if (get_text(ds, DCM_AcquisitionDateTime, v) && dt_to_rfc3339(v, tzo, t))
        put_string(o, "time", t);
    else if (get_text(ds, DCM_ContentDate, v) && get_text(ds, DCM_ContentTime, w) &&
             dt_to_rfc3339(v + w, tzo, t))
        put_string(o, "time", t);
    if (get_text(ds, DCM_DeviceSerialNumber, v) || get_text(ds, DCM_StationName, v))
        put_string(o, "scanner", v);
    if (get_text(ds, DCM_PixelSpacing, v) || get_text(ds, DCM_ImagerPixelSpacing, v)) {
        size_t bs = v.find('\\');
        if (bs != std::string::npos) { // row spacing (y) \ column spacing (x)
            put_number(o, "pixel_mm_y", v.substr(0, bs));
            put_number(o, "pixel_mm_x", v.substr(bs + 1));
        }
    }
    Uint16 b = private_block(ds);
    if (b) {
        if (get_text(ds, DcmTagKey(k_group, b | k_open_beam), v))
            put_number(o, "open_beam", v);
        if (get_text(ds, DcmTagKey(k_group, b | k_mu), v))
            put_number(o, "mass_attenuation_cm2_g", v);
        if (get_text(ds, DcmTagKey(k_group, b | k_orientation), v)) {
            std::string lower;
            for (char c : v)
                lower += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
            put_string(o, "orientation", lower);
        }
        if (get_text(ds, DcmTagKey(k_group, b | k_declaration), v))
            put_string(o, "declaration", v);
        if (get_text(ds, DcmTagKey(k_group, b | k_declared_empty), v)) {
            if (v == "YES" || v == "NO")
                json_object_set_new(o, "declared_empty", json_boolean(v == "YES"));
            else
                put_string(o, "declared_empty", v);
        }
        if (get_text(ds, DcmTagKey(k_group, b | k_declared_mass), v))
            put_number(o, "declared_mass_kg", v);
    }
    return o;
}

cx_err fail(char *err, size_t errlen, cx_err e, const char *fmt, const char *arg = "")
{
    std::snprintf(err, errlen, fmt, arg);
    return e;
}

cx_err read_pixels(DcmDataset *ds, size_t file_len, xray_image **out, char *err, size_t errlen)
{
    Uint16 rows = 0, cols = 0, spp = 1, alloc = 0, stored = 0, rep = 0;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, cols);
    ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
    ds->findAndGetUint16(DCM_BitsAllocated, alloc);
    ds->findAndGetUint16(DCM_BitsStored, stored);
    ds->findAndGetUint16(DCM_PixelRepresentation, rep);
    std::string photo, frames;
    get_text(ds, DCM_PhotometricInterpretation, photo);
    if (spp != 1 || photo != "MONOCHROME2")
        return fail(err, errlen, CX_EPARSE, "DICOS: the image must be MONOCHROME2 with one "
                                            "sample per pixel");
    if ((alloc != 8 && alloc != 16) || rep != 0 || stored == 0 || stored > alloc)
        return fail(err, errlen, CX_EPARSE, "DICOS: pixels must be unsigned, 8 or 16 bits "
                                            "allocated");
    if (get_text(ds, DCM_NumberOfFrames, frames) && frames != "1")
        return fail(err, errlen, CX_EPARSE, "DICOS: only single-frame images are read");
    if (!xray_dims_ok(cols, rows)) {
        std::snprintf(err, errlen, "DICOS: %ux%u pixels is over the limit (%u per side, %u in all)",
                      cols, rows, XRAY_MAX_DIM, XRAY_MAX_PIXELS);
        return CX_EPARSE;
    }
    DcmXfer xfer(ds->getOriginalXfer());
    if (xfer.isEncapsulated())
        return fail(err, errlen, CX_EPARSE, "DICOS: compressed pixel data (%s) is not read: "
                                            "send an uncompressed transfer syntax",
                    xfer.getXferName());
    size_t n = static_cast<size_t>(rows) * cols;
    DcmElement *pix = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, pix).bad() || !pix ||
        pix->getLength() < n * (alloc / 8) || pix->getLength() > file_len)
        return fail(err, errlen, CX_EPARSE, "DICOS: the pixel data is missing or truncated");
    unsigned long count = 0;
    const Uint16 *p16 = nullptr;
    const Uint8 *p8 = nullptr;
    bool ok = alloc == 16 ? ds->findAndGetUint16Array(DCM_PixelData, p16, &count).good() && p16
                          : ds->findAndGetUint8Array(DCM_PixelData, p8, &count).good() && p8;
    if (!ok || count < n)
        return fail(err, errlen, CX_EPARSE, "DICOS: the pixel data is missing or truncated");
    xray_image *im = xray_image_new(cols, rows);
    if (!im)
        return CX_ENOMEM;
    Uint16 mask = static_cast<Uint16>(stored >= 16 ? 0xffff : (1u << stored) - 1);
    for (size_t i = 0; i < n; i++)
        im->px[i] = static_cast<uint16_t>((alloc == 16 ? p16[i] : p8[i]) & mask);
    im->bits = alloc;
    *out = im;
    return CX_OK;
}

/* DCMTK allocates an element's value from its length field when it reads
 * from memory, so a corrupt length asks for gigabytes. Read from a file
 * instead (an anonymous one: memfd), where values over 4 KiB stay on
 * "disk" until asked for, and the pixels are asked for only after their
 * length has been checked against the image size and the file. */
struct memfile {
    int fd = -1;
    ~memfile()
    {
        if (fd >= 0)
            close(fd);
    }
};

cx_err read_dicos(const uint8_t *data, size_t len, xray_image **out, json_t **meta, char *err,
                  size_t errlen)
{
    dicos_init();
    memfile mf;
    mf.fd = memfd_create("customs-dicos", MFD_CLOEXEC);
    if (mf.fd < 0)
        return fail(err, errlen, CX_EIO, "DICOS: no memory file for the reader");
    for (size_t off = 0; off < len;) {
        ssize_t n = write(mf.fd, data + off, len - off);
        if (n <= 0)
            return fail(err, errlen, CX_EIO, "DICOS: could not stage the file");
        off += static_cast<size_t>(n);
    }
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", mf.fd);
    DcmFileFormat ff;
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
    if (c == EC_StreamNotifyClient || c == EC_PrematureSequDelimitationItem ||
        c == EC_InvalidStream || c == EC_ItemEnd)
        return fail(err, errlen, CX_EPARSE, "DICOS: the file is truncated or malformed (%s)",
                    c.text());
    if (c.bad())
        return fail(err, errlen, CX_EPARSE, "DICOS: %s", c.text());
    DcmDataset *ds = ff.getDataset();
    std::string sop;
    get_text(ds, DCM_SOPClassUID, sop);
    if (!is_dicos_dx(OFString(sop.c_str())))
        return fail(err, errlen, CX_EPARSE, "DICOS: not a DICOS digital X-ray image (SOP class "
                                            "'%s')", sop.c_str());
    cx_err e = read_pixels(ds, len, out, err, errlen);
    if (e == CX_OK && meta)
        *meta = meta_from(ds);
    return e;
}

std::string rfc3339_to_dt(int64_t us)
{
    char t[32];
    cx_rfc3339_format(us, t); // YYYY-MM-DDThh:mm:ss.mmmZ
    std::string s(t);
    return s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2) + s.substr(11, 2) + s.substr(14, 2) +
           s.substr(17, 2) + s.substr(19, 4) + "+0000";
}

std::string num(double v)
{
    char b[32];
    std::snprintf(b, sizeof b, "%.10g", v); // DS: at most 16 characters
    return b;
}

cx_err save_dicos(const xray_image *im, const xray_meta *m, const char *path, char *err,
                  size_t errlen)
{
    dicos_init();
    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    char uid[100];
    OFCondition c = ds->putAndInsertString(DCM_SOPClassUID,
                                           UID_DICOS_DigitalXRayImageStorageForProcessing);
    c = c.good() ? ds->putAndInsertString(DCM_SOPInstanceUID,
                                          dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT))
                 : c;
    c = c.good() ? ds->putAndInsertString(DCM_StudyInstanceUID,
                                          dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT))
                 : c;
    c = c.good() ? ds->putAndInsertString(DCM_SeriesInstanceUID,
                                          dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT))
                 : c;
    c = c.good() ? ds->putAndInsertString(DCM_Modality, "DX") : c;
    c = c.good() ? ds->putAndInsertString(DCM_StudyID, m->scan_id) : c;
    c = c.good() ? ds->putAndInsertString(DCM_PatientID, m->container) : c;
    c = c.good() ? ds->putAndInsertString(DCM_AcquisitionDateTime,
                                          rfc3339_to_dt(m->time_us).c_str())
                 : c;
    c = c.good() ? ds->putAndInsertString(DCM_DeviceSerialNumber, m->scanner) : c;
    c = c.good() ? ds->putAndInsertString(
                       DCM_PixelSpacing, (num(m->pixel_mm_y) + "\\" + num(m->pixel_mm_x)).c_str())
                 : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(im->h)) : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(im->w)) : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_SamplesPerPixel, 1) : c;
    c = c.good() ? ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2") : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_BitsAllocated, 16) : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_BitsStored, 16) : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_HighBit, 15) : c;
    c = c.good() ? ds->putAndInsertUint16(DCM_PixelRepresentation, 0) : c;
    c = c.good() ? ds->putAndInsertUint16Array(DCM_PixelData, im->px,
                                              static_cast<unsigned long>(im->w) * im->h)
                 : c;
    const Uint16 b = 0x1000; // our block at (0011,0010)
    c = c.good() ? ds->putAndInsertString(DcmTag(k_group, 0x0010, EVR_LO), k_creator) : c;
    struct {
        Uint16 el;
        DcmEVR vr;
        std::string v;
    } priv[] = {
        {k_open_beam, EVR_DS, num(m->open_beam)},
        {k_mu, EVR_DS, num(m->mu)},
        {k_orientation, EVR_CS, m->door_right ? "DOOR_RIGHT" : "DOOR_LEFT"},
        {k_declaration, EVR_LO, m->declaration},
        {k_declared_empty, EVR_CS, m->declared_empty < 0 ? "" : m->declared_empty ? "YES" : "NO"},
        {k_declared_mass, EVR_DS, std::isnan(m->declared_mass_kg) ? "" : num(m->declared_mass_kg)},
    };
    for (auto &p : priv)
        if (c.good() && !p.v.empty()) {
            DcmTag tag(k_group, static_cast<Uint16>(b | p.el), k_creator);
            tag.setVR(DcmVR(p.vr));
            c = ds->putAndInsertString(tag, p.v.c_str());
        }
    if (c.good())
        c = ff.saveFile(path, EXS_LittleEndianExplicit);
    if (c.bad())
        return fail(err, errlen, CX_EIO, "DICOS: %s", c.text());
    return CX_OK;
}

} // namespace

extern "C" cx_err xray__dicos_read(const uint8_t *data, size_t len, xray_image **out,
                                   json_t **meta, char *err, size_t errlen)
{
    *out = nullptr;
    try {
        return read_dicos(data, len, out, meta, err, errlen);
    } catch (const std::bad_alloc &) {
        return CX_ENOMEM;
    } catch (...) {
        return fail(err, errlen, CX_EPARSE, "DICOS: malformed file");
    }
}

extern "C" cx_err xray__dicos_save(const xray_image *im, const xray_meta *m, const char *path,
                                   char *err, size_t errlen)
{
    if (im->w > 65535 || im->h > 65535)
        return fail(err, errlen, CX_EINVAL, "DICOS: at most 65535 pixels per side");
    try {
        return save_dicos(im, m, path, err, errlen);
    } catch (...) {
        return fail(err, errlen, CX_EIO, "DICOS: could not write the file");
    }
}

extern "C" cx_err xray_dicos_save(const xray_image *im, const xray_meta *m, const char *path,
                                  char *err, size_t errlen)
{
    return xray__dicos_save(im, m, path, err, errlen);
}
