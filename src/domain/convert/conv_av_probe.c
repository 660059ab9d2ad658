/* conv_av_probe.c - tells media containers apart by opening them with libavformat: which
 * demuxer matched and which streams it holds (mp4 vs m4a vs mov, ogg vs opus, webm vs mkv,
 * wma vs wmv). Only the demuxers in conv_av_demuxers are allowed, with the file protocol. */
#include <libavformat/avformat.h>
#include <stdio.h>
#include <string.h>

#include "domain/convert/conv.h"
#include "domain/convert/conv_av.h"

const char conv_av_demuxers[] = "mp3,wav,ogg,aac,mov,mp4,m4a,3gp,3g2,mj2,flac,asf,aiff,"
                                "matroska,webm,avi,mpeg,mpegts,mpegvideo,gif,mp2";

#define MAX_STREAMS 64

/* Opens path for reading with the whitelists; caller closes with avformat_close_input. */
static int open_input(const char *path, AVFormatContext **ic)
{
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "format_whitelist", conv_av_demuxers, 0);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "probesize", "5000000", 0);
    av_dict_set(&opts, "analyzeduration", "5000000", 0);
    int ret = avformat_open_input(ic, path, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return ret;
    if ((*ic)->nb_streams > MAX_STREAMS)
        return AVERROR_INVALIDDATA;
    return avformat_find_stream_info(*ic, NULL);
}

static int has_prefix_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return 0;
}

cct_err conv_av_detect(const char *path, char *fmt, size_t n, struct cct_error *err)
{
    AVFormatContext *ic = NULL;
    int video = 0, audio = 0, webm_only = 1;
    enum AVCodecID first_audio = AV_CODEC_ID_NONE;
    snprintf(fmt, n, "other");
    conv_av_log_setup();
    int ret = open_input(path, &ic);
    if (ret < 0) {
        avformat_close_input(&ic);
        return CCT_OK; /* not media libav accepts: "other" */
    }
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *st = ic->streams[i];
        enum AVCodecID id = st->codecpar->codec_id;
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            video = 1;
            if (id != AV_CODEC_ID_VP8 && id != AV_CODEC_ID_VP9 && id != AV_CODEC_ID_AV1)
                webm_only = 0;
        } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            if (!audio)
                first_audio = id;
            audio = 1;
            if (id != AV_CODEC_ID_OPUS && id != AV_CODEC_ID_VORBIS)
                webm_only = 0;
        }
    }
    const char *name = ic->iformat->name;
    const char *out = "other";
    if (!video && !audio)
        out = "other";
    else if (has_prefix_word(name, "mov")) {
        const AVDictionaryEntry *brand = av_dict_get(ic->metadata, "major_brand", NULL, 0);
        if (!video)
            out = "m4a";
        else if (brand && strncmp(brand->value, "qt", 2) == 0)
            out = "mov";
        else
            out = "mp4";
    } else if (has_prefix_word(name, "matroska"))
        out = video ? (webm_only ? "webm" : "mkv") : "other";
    else if (strcmp(name, "asf") == 0)
        out = video ? "wmv" : "wma";
    else if (strcmp(name, "ogg") == 0)
        out = video ? "other" : (first_audio == AV_CODEC_ID_OPUS ? "opus" : "ogg");
    else if (video && (strcmp(name, "avi") == 0))
        out = "avi";
    else if (video && (strcmp(name, "mpeg") == 0 || strcmp(name, "mpegts") == 0 ||
                       strcmp(name, "mpegvideo") == 0))
        out = "mpeg";
    else if (!video && (strcmp(name, "mp3") == 0 ||
                        (strcmp(name, "mpeg") == 0 && first_audio == AV_CODEC_ID_MP3)))
        out = "mp3";
    else if (!video && strcmp(name, "wav") == 0)
        out = "wav";
    else if (!video && strcmp(name, "aac") == 0)
        out = "aac";
    else if (!video && strcmp(name, "flac") == 0)
        out = "flac";
    else if (!video && strcmp(name, "aiff") == 0)
        out = "aiff";
    snprintf(fmt, n, "%s", out);
    avformat_close_input(&ic);
    (void)err;
    return CCT_OK;
}
