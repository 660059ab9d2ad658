/* conv_av.c - the audio/video engine: opens the input through the demuxer and protocol
 * whitelists, enforces the limits (streams, duration, frame area), picks the streams the
 * target needs, and runs each through decode -> filter graph -> encode -> mux with monotonic
 * timestamps, progress and cancellation. Owns the translation of AVERROR into messages a user
 * can act on. Targets and encoders: conv_av_enc.c; filter graphs: conv_av_filter.c. */
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "domain/convert/conv_av.h"
#include "util/log.h"

#define MAX_AV_STREAMS 16    /* audio + video streams a file may carry */
#define MAX_ALL_STREAMS 64   /* every stream, subtitles and data included */
#define MAX_DECODE_ERRORS 64 /* errors in a row while draining one packet */

/* libav messages go to our debug log (escaped), never straight to stderr. */
static void av_log_to_ours(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_ERROR || log_min_level > LOG_DEBUG)
        return;
    char line[512], esc[1024];
    int prefix = 1;
    va_list copy;
    va_copy(copy, vl);
    av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &prefix);
    va_end(copy);
    log_debug("av", "msg=\"%s\"", log_escape(line, esc, sizeof esc));
}

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static void av_setup(void)
{
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_log_to_ours);
}

void conv_av_log_setup(void)
{
    pthread_once(&av_once, av_setup);
}

cct_err conv_av_fail(struct av_job *j, int averr, const char *doing)
{
    char buf[AV_ERROR_MAX_STRING_SIZE];
    const char *what;
    cct_err code = CCT_ECONVERT;
    switch (averr) {
    case AVERROR_INVALIDDATA: what = "the file is damaged or truncated"; break;
    case AVERROR_EOF: what = "the file ends before any media could be read"; break;
    case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_STREAM_NOT_FOUND:
        what = "not a media file we can read";
        code = CCT_EUNSUPPORTED;
        break;
    case AVERROR_DECODER_NOT_FOUND:
        what = "it uses a codec we cannot decode";
        code = CCT_EUNSUPPORTED;
        break;
    case AVERROR_ENCODER_NOT_FOUND:
        what = "the encoder for this format is missing on the server";
        code = CCT_EINTERNAL;
        break;
    case AVERROR_PATCHWELCOME:
        what = "it uses a feature the decoder does not support";
        code = CCT_EUNSUPPORTED;
        break;
    case AVERROR(ENOMEM):
        what = "out of memory";
        code = CCT_ENOMEM;
        break;
    case AVERROR(ENOSPC):
    case AVERROR(EFBIG):
        what = "the output grew too large";
        code = CCT_ELIMIT;
        break;
    case AVERROR(ENOENT):
    case AVERROR(EACCES):
    case AVERROR(EIO):
        what = "the file could not be read or written";
        code = CCT_EIO;
        break;
    default:
        av_strerror(averr, buf, sizeof buf);
        what = buf;
        break;
    }
    j->failed = cct_error_set(j->err, code, "%s: %s", doing, what);
    return j->failed;
}

static cct_err job_fail(struct av_job *j, cct_err code, const char *msg)
{
    j->failed = cct_error_set(j->err, code, "%s", msg);
    return j->failed;
}

/* ---- input ---------------------------------------------------------------------------- */

static int open_input(struct av_job *j)
{
    AVDictionary *o = NULL;
    j->ic = avformat_alloc_context();
    if (!j->ic)
        return AVERROR(ENOMEM);
    j->ic->format_whitelist = av_strdup(conv_av_demuxers);
    j->ic->protocol_whitelist = av_strdup("file");
    if (!j->ic->format_whitelist || !j->ic->protocol_whitelist)
        return AVERROR(ENOMEM);
    av_dict_set(&o, "format_whitelist", conv_av_demuxers, 0);
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    av_dict_set(&o, "probesize", "5000000", 0);
    av_dict_set(&o, "analyzeduration", "5000000", 0);
    av_dict_set(&o, "max_streams", "64", 0);
    /* mov: never follow data references to other files */
    av_dict_set(&o, "enable_drefs", "0", 0);
    av_dict_set(&o, "use_absolute_path", "0", 0);
    int ret = avformat_open_input(&j->ic, j->r->in_path, NULL, &o);
    av_dict_free(&o);
    if (ret < 0)
        return ret;
    if (j->ic->nb_streams > MAX_ALL_STREAMS)
        return AVERROR_INVALIDDATA;
    return avformat_find_stream_info(j->ic, NULL);
}

static int is_real_video(const AVStream *st)
{
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
           !(st->disposition & AV_DISPOSITION_ATTACHED_PIC) &&
           st->codecpar->codec_id != AV_CODEC_ID_NONE;
}

/* Clockwise rotation a player would apply: display matrix, else the old "rotate" tag. */
static int stream_rotation(AVStream *st)
{
    size_t size = 0;
    const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    double theta = 0;
    if (sd && size >= 9 * sizeof(int32_t)) {
        theta = -round(av_display_rotation_get((const int32_t *)sd));
    } else {
        const AVDictionaryEntry *e = av_dict_get(st->metadata, "rotate", NULL, 0);
        if (!e)
            return 0;
        char *end = NULL;
        long v = strtol(e->value, &end, 10);
        if (end == e->value || v < -3600 || v > 3600)
            return 0;
        theta = (double)v;
    }
    if (isnan(theta))
        return 0;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    if (fabs(theta - 90) < 1)
        return 90;
    if (fabs(theta - 180) < 1)
        return 180;
    if (fabs(theta - 270) < 1)
        return 270;
    return 0;
}

static int open_decoder(struct av_job *j, struct av_pipe *p)
{
    const AVCodec *c = avcodec_find_decoder(p->ist->codecpar->codec_id);
    if (!c)
        return AVERROR_DECODER_NOT_FOUND;
    p->dec = avcodec_alloc_context3(c);
    if (!p->dec)
        return AVERROR(ENOMEM);
    int ret = avcodec_parameters_to_context(p->dec, p->ist->codecpar);
    if (ret < 0)
        return ret;
    p->dec->pkt_timebase = p->ist->time_base;
    p->dec->thread_count = 0;
    if (j->r->limits.max_pixels > 0 && j->r->limits.max_pixels < INT64_MAX)
        p->dec->max_pixels = j->r->limits.max_pixels;
    return avcodec_open2(p->dec, c, NULL);
}

/* Checks the limits and fills j->pipes with the streams the target needs. */
static cct_err select_streams(struct av_job *j)
{
    AVFormatContext *ic = j->ic;
    const struct conv_limits *lim = &j->r->limits;
    int video = -1, audio = -1, nav = 0;
    int64_t best_area = -1;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVStream *st = ic->streams[i];
        st->discard = AVDISCARD_ALL;
        if (is_real_video(st)) {
            nav++;
            int64_t area = (int64_t)st->codecpar->width * st->codecpar->height;
            if (area > best_area) {
                best_area = area;
                video = (int)i;
            }
        } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            nav++;
            if (audio < 0 && st->codecpar->codec_id != AV_CODEC_ID_NONE)
                audio = (int)i;
        }
    }
    if (nav > MAX_AV_STREAMS)
        return job_fail(j, CCT_ELIMIT, "the file has too many audio and video streams");
    if (lim->max_duration_s > 0 && ic->duration != AV_NOPTS_VALUE &&
        ic->duration / AV_TIME_BASE > lim->max_duration_s)
        return job_fail(j, CCT_ELIMIT, "the media is longer than the allowed duration");
    if (j->t->vcodec) {
        if (video < 0)
            return job_fail(j, CCT_ECONVERT, "the file has no video stream");
        const AVCodecParameters *cp = ic->streams[video]->codecpar;
        if (cp->width <= 0 || cp->height <= 0)
            return job_fail(j, CCT_ECONVERT,
                            "the video stream is damaged or its frame size is out of range");
        if (lim->max_pixels > 0 && (int64_t)cp->width * cp->height > lim->max_pixels)
            return job_fail(j, CCT_ELIMIT, "the video frame is larger than allowed");
        struct av_pipe *p = &j->pipes[j->npipes++];
        p->type = AVMEDIA_TYPE_VIDEO;
        p->in_index = video;
    }
    if (j->t->acodec) {
        if (audio < 0 && !j->t->vcodec)
            return job_fail(j, CCT_ECONVERT, "the file has no sound to extract");
        if (audio >= 0) {
            struct av_pipe *p = &j->pipes[j->npipes++];
            p->type = AVMEDIA_TYPE_AUDIO;
            p->in_index = audio;
        }
    }
    for (int i = 0; i < j->npipes; i++) {
        struct av_pipe *p = &j->pipes[i];
        p->ist = ic->streams[p->in_index];
        p->ist->discard = AVDISCARD_DEFAULT;
        p->last_pts = p->last_dts = AV_NOPTS_VALUE;
        if (p->type == AVMEDIA_TYPE_VIDEO)
            p->rotation = stream_rotation(p->ist);
        int ret = open_decoder(j, p);
        if (ret < 0)
            return conv_av_fail(j, ret, "cannot decode the input");
        if (p->type == AVMEDIA_TYPE_AUDIO &&
            (p->dec->sample_rate <= 0 || p->dec->ch_layout.nb_channels <= 0 ||
             p->dec->ch_layout.nb_channels > 64))
            return job_fail(j, CCT_ECONVERT, "the sound stream is damaged");
    }
    return CCT_OK;
}

/* ---- output --------------------------------------------------------------------------- */

static int skip_tag(const char *key)
{
    static const char *const skip[] = {
        "major_brand",  "minor_version", "compatible_brands", "encoder",  "rotate",
        "handler_name", "vendor_id",     "duration",          "language", "encoded_by"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(key, skip[i]) == 0)
            return 1;
    return 0;
}

static void copy_tags(AVDictionary **dst, const AVDictionary *src)
{
    const AVDictionaryEntry *e = NULL;
    while ((e = av_dict_get(src, "", e, AV_DICT_IGNORE_SUFFIX)))
        if (!skip_tag(e->key))
            av_dict_set(dst, e->key, e->value, AV_DICT_DONT_OVERWRITE);
}

static cct_err open_output(struct av_job *j)
{
    int ret = avformat_alloc_output_context2(&j->oc, NULL, j->t->muxer, NULL);
    if (ret < 0 || !j->oc)
        return conv_av_fail(j, ret < 0 ? ret : AVERROR(ENOMEM), "cannot create the output");
    for (int i = 0; i < j->npipes; i++) {
        struct av_pipe *p = &j->pipes[i];
        ret = p->type == AVMEDIA_TYPE_VIDEO ? conv_av_open_video_encoder(j, p)
                                            : conv_av_open_audio_encoder(j, p);
        if (ret < 0)
            return conv_av_fail(j, ret, "cannot start the encoder");
        p->ost = avformat_new_stream(j->oc, NULL);
        if (!p->ost)
            return conv_av_fail(j, AVERROR(ENOMEM), "cannot create the output");
        ret = avcodec_parameters_from_context(p->ost->codecpar, p->enc);
        if (ret < 0)
            return conv_av_fail(j, ret, "cannot create the output");
        p->ost->codecpar->codec_tag = 0;
        p->ost->time_base = p->enc->time_base;
        if (p->type == AVMEDIA_TYPE_VIDEO) {
            p->ost->avg_frame_rate = p->fps;
            p->ost->sample_aspect_ratio = p->enc->sample_aspect_ratio;
        }
    }
    /* tags: the container's, then the kept audio stream's (ogg keeps them per stream) */
    copy_tags(&j->oc->metadata, j->ic->metadata);
    for (int i = 0; i < j->npipes; i++)
        if (j->pipes[i].type == AVMEDIA_TYPE_AUDIO)
            copy_tags(&j->oc->metadata, j->pipes[i].ist->metadata);
    for (int i = 0; i < j->npipes; i++)
        if (j->pipes[i].type == AVMEDIA_TYPE_AUDIO && !strcmp(j->oc->oformat->name, "ogg"))
            copy_tags(&j->pipes[i].ost->metadata, j->oc->metadata);
    if (!strcmp(j->oc->oformat->name, "ogg") || !strcmp(j->oc->oformat->name, "opus"))
        for (int i = 0; i < j->npipes; i++)
            copy_tags(&j->pipes[i].ost->metadata, j->oc->metadata);

    j->oc->url = av_strdup(j->r->out_path); /* faststart reopens the file by name */
    if (!j->oc->url)
        return conv_av_fail(j, AVERROR(ENOMEM), "cannot create the output");
    ret = avio_open(&j->oc->pb, j->r->out_path, AVIO_FLAG_WRITE);
    if (ret < 0)
        return conv_av_fail(j, ret, "cannot write the output file");
    AVDictionary *o = NULL;
    if (j->t->flags & AVT_FASTSTART)
        av_dict_set(&o, "movflags", "+faststart", 0);
    ret = avformat_write_header(j->oc, &o);
    av_dict_free(&o);
    if (ret < 0)
        return conv_av_fail(j, ret, "cannot write the output header");
    j->header_written = 1;
    return CCT_OK;
}

/* ---- decode -> filter -> encode -> mux ----------------------------------------------- */

static int write_packets(struct av_job *j, struct av_pipe *p)
{
    for (;;) {
        int ret = avcodec_receive_packet(p->enc, j->opkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return ret;
        AVPacket *k = j->opkt;
        k->stream_index = p->ost->index;
        av_packet_rescale_ts(k, p->enc->time_base, p->ost->time_base);
        if (k->dts != AV_NOPTS_VALUE) {
            if (p->last_dts != AV_NOPTS_VALUE && k->dts <= p->last_dts) {
                k->dts = p->last_dts + 1;
                if (k->pts != AV_NOPTS_VALUE && k->pts < k->dts)
                    k->pts = k->dts;
            }
            p->last_dts = k->dts;
        }
        ret = av_interleaved_write_frame(j->oc, k);
        if (ret < 0)
            return ret;
    }
}

/* Encodes one filtered frame (NULL flushes) with a timestamp that never goes backwards. */
static int encode(struct av_job *j, struct av_pipe *p, AVFrame *f)
{
    if (f) {
        AVRational stb = av_buffersink_get_time_base(p->sink);
        int64_t pts = f->pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE
                                               : av_rescale_q(f->pts, stb, p->enc->time_base);
        if (p->type == AVMEDIA_TYPE_VIDEO) {
            if (pts == AV_NOPTS_VALUE)
                pts = p->last_pts == AV_NOPTS_VALUE ? 0 : p->last_pts + 1;
            if (p->last_pts != AV_NOPTS_VALUE && pts <= p->last_pts)
                pts = p->last_pts + 1;
            p->last_pts = pts;
            f->pict_type = AV_PICTURE_TYPE_NONE;
        } else {
            if (pts == AV_NOPTS_VALUE || pts < p->next_pts)
                pts = p->next_pts;
            p->next_pts = pts + f->nb_samples;
        }
        f->pts = pts;
        p->frames_out++;
    }
    int ret = avcodec_send_frame(p->enc, f);
    if (ret < 0 && !(ret == AVERROR_EOF && !f))
        return ret;
    return write_packets(j, p);
}

static int pull_filter(struct av_job *j, struct av_pipe *p)
{
    for (;;) {
        int ret = av_buffersink_get_frame(p->sink, j->filt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return ret;
        ret = encode(j, p, j->filt);
        av_frame_unref(j->filt);
        if (ret < 0)
            return ret;
    }
}

static int frame_changed(const struct av_pipe *p, const AVFrame *f)
{
    if (p->type == AVMEDIA_TYPE_VIDEO)
        return f->width != p->in_w || f->height != p->in_h || f->format != p->in_fmt;
    return f->sample_rate != p->in_rate || f->format != p->in_fmt ||
           f->ch_layout.nb_channels != p->in_layout.nb_channels ||
           (f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE &&
            av_channel_layout_compare(&f->ch_layout, &p->in_layout) != 0);
}

/* Feeds one decoded frame into p's graph (built or rebuilt for its parameters). */
static int filter_frame(struct av_job *j, struct av_pipe *p, AVFrame *f)
{
    const struct conv_limits *lim = &j->r->limits;
    int ret;
    if (p->type == AVMEDIA_TYPE_VIDEO && lim->max_pixels > 0 &&
        (int64_t)f->width * f->height > lim->max_pixels) {
        job_fail(j, CCT_ELIMIT, "the video frame is larger than allowed");
        return AVERROR(EINVAL);
    }
    if (!p->graph || frame_changed(p, f)) {
        if (p->type == AVMEDIA_TYPE_VIDEO) {
            p->in_w = f->width;
            p->in_h = f->height;
            p->in_sar = f->sample_aspect_ratio;
        } else {
            p->in_rate = f->sample_rate;
            av_channel_layout_uninit(&p->in_layout);
            if (f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE)
                ret = av_channel_layout_copy(&p->in_layout, &f->ch_layout);
            else {
                av_channel_layout_default(&p->in_layout, f->ch_layout.nb_channels);
                ret = 0;
            }
            if (ret < 0)
                return ret;
            av_channel_layout_uninit(&f->ch_layout);
            ret = av_channel_layout_copy(&f->ch_layout, &p->in_layout);
            if (ret < 0)
                return ret;
        }
        p->in_fmt = f->format;
        ret = conv_av_build_filter(j, p);
        if (ret < 0)
            return ret;
    } else if (p->type == AVMEDIA_TYPE_AUDIO && f->ch_layout.order != AV_CHANNEL_ORDER_NATIVE) {
        av_channel_layout_uninit(&f->ch_layout);
        ret = av_channel_layout_copy(&f->ch_layout, &p->in_layout);
        if (ret < 0)
            return ret;
    }
    int64_t ts = f->best_effort_timestamp;
    if (ts != AV_NOPTS_VALUE) {
        ts -= av_rescale_q(j->start_us, AV_TIME_BASE_Q, p->ist->time_base);
        if (lim->max_duration_s > 0 &&
            av_rescale_q(ts, p->ist->time_base, AV_TIME_BASE_Q) / AV_TIME_BASE >
                lim->max_duration_s + 1) {
            job_fail(j, CCT_ELIMIT, "the media is longer than the allowed duration");
            return AVERROR(EINVAL);
        }
    }
    f->pts = ts;
    ret = av_buffersrc_add_frame_flags(p->src, f, 0);
    if (ret < 0)
        return ret;
    return pull_filter(j, p);
}

/* Decodes one packet (NULL drains the decoder). Bad data is counted and skipped; only
 * failures of the filters, encoders or muxer are returned. */
static int decode(struct av_job *j, struct av_pipe *p, const AVPacket *pkt)
{
    int ret = avcodec_send_packet(p->dec, pkt);
    if (ret == AVERROR(ENOMEM))
        return ret;
    if (ret < 0 && ret != AVERROR_EOF) {
        j->decode_errors++;
        if (pkt)
            return 0;
    }
    for (int errors = 0; errors < MAX_DECODE_ERRORS;) {
        ret = avcodec_receive_frame(p->dec, j->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret == AVERROR(ENOMEM))
            return ret;
        if (ret < 0) {
            j->decode_errors++;
            errors++;
            continue;
        }
        p->frames_in++;
        ret = filter_frame(j, p, j->frame);
        av_frame_unref(j->frame);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int flush_pipe(struct av_job *j, struct av_pipe *p)
{
    int ret = decode(j, p, NULL);
    if (ret < 0)
        return ret;
    if (p->graph) {
        ret = av_buffersrc_add_frame_flags(p->src, NULL, 0);
        if (ret < 0)
            return ret;
        ret = pull_filter(j, p);
        if (ret < 0)
            return ret;
    }
    return encode(j, p, NULL);
}

static struct av_pipe *pipe_for(struct av_job *j, int stream_index)
{
    for (int i = 0; i < j->npipes; i++)
        if (j->pipes[i].in_index == stream_index)
            return &j->pipes[i];
    return NULL;
}

/* Reports progress on each whole percent; returns non-zero when the caller cancels. */
static int report(struct av_job *j, int percent)
{
    if (!j->r->progress || percent <= j->last_percent)
        return 0;
    j->last_percent = percent;
    return j->r->progress(j->r->progress_ud, percent);
}

static int progress_from(struct av_job *j, const struct av_pipe *p, const AVPacket *pkt)
{
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (j->duration_us <= 0 || ts == AV_NOPTS_VALUE)
        return 0;
    int64_t pos = av_rescale_q(ts, p->ist->time_base, AV_TIME_BASE_Q) - j->start_us;
    int64_t pc = pos <= 0 ? 0 : pos * 100 / j->duration_us;
    if (pc > 99)
        pc = 99;
    return report(j, (int)pc);
}

static cct_err transcode(struct av_job *j)
{
    int ret, read_err = 0;
    for (;;) {
        ret = av_read_frame(j->ic, j->pkt);
        if (ret == AVERROR(EAGAIN))
            continue;
        if (ret < 0) {
            if (ret != AVERROR_EOF)
                read_err = ret; /* truncated or damaged: keep what was decoded */
            break;
        }
        struct av_pipe *p = pipe_for(j, j->pkt->stream_index);
        if (!p) {
            av_packet_unref(j->pkt);
            continue;
        }
        if (progress_from(j, p, j->pkt)) {
            av_packet_unref(j->pkt);
            return job_fail(j, CCT_ECANCELLED, "the conversion was cancelled");
        }
        ret = decode(j, p, j->pkt);
        av_packet_unref(j->pkt);
        if (ret < 0)
            return j->failed ? j->failed : conv_av_fail(j, ret, "the conversion failed");
    }
    for (int i = 0; i < j->npipes; i++) {
        ret = flush_pipe(j, &j->pipes[i]);
        if (ret < 0)
            return j->failed ? j->failed : conv_av_fail(j, ret, "the conversion failed");
    }
    for (int i = 0; i < j->npipes; i++)
        if (j->pipes[i].frames_in == 0 || j->pipes[i].frames_out == 0)
            return conv_av_fail(j, read_err ? read_err : AVERROR_INVALIDDATA,
                                "nothing could be decoded");
    ret = av_write_trailer(j->oc);
    if (ret < 0)
        return conv_av_fail(j, ret, "cannot finish the output file");
    if (report(j, 100))
        return job_fail(j, CCT_ECANCELLED, "the conversion was cancelled");
    return CCT_OK;
}

static void job_free(struct av_job *j)
{
    for (int i = 0; i < j->npipes; i++) {
        struct av_pipe *p = &j->pipes[i];
        avfilter_graph_free(&p->graph);
        avcodec_free_context(&p->dec);
        avcodec_free_context(&p->enc);
        av_channel_layout_uninit(&p->in_layout);
    }
    if (j->oc) {
        if (j->oc->pb)
            avio_closep(&j->oc->pb);
        avformat_free_context(j->oc);
        j->oc = NULL;
    }
    avformat_close_input(&j->ic);
    av_frame_free(&j->frame);
    av_frame_free(&j->filt);
    av_packet_free(&j->pkt);
    av_packet_free(&j->opkt);
}

cct_err conv_av_run(const struct conv_request *r, struct cct_error *err)
{
    struct av_job j = {.r = r, .err = err, .last_percent = -1};
    cct_err rc = CCT_OK;
    int ret, created = 0;
    conv_av_log_setup();
    j.t = conv_av_target(r->to);
    if (!j.t) {
        rc = cct_error_set(err, CCT_EUNSUPPORTED, "cannot write %s with the media engine", r->to);
        goto out;
    }
    j.q = conv_av_quality(r->preset);
    j.frame = av_frame_alloc();
    j.filt = av_frame_alloc();
    j.pkt = av_packet_alloc();
    j.opkt = av_packet_alloc();
    if (!j.frame || !j.filt || !j.pkt || !j.opkt) {
        rc = cct_error_set(err, CCT_ENOMEM, "out of memory");
        goto out;
    }
    ret = open_input(&j);
    if (ret < 0) {
        if (ret == AVERROR_INVALIDDATA || ret == AVERROR_DEMUXER_NOT_FOUND || ret == AVERROR_EOF)
            rc = job_fail(&j, CCT_EUNSUPPORTED, "not a media file we can read (or it is damaged)");
        else
            rc = conv_av_fail(&j, ret, "cannot open the input");
        goto out;
    }
    j.start_us = j.ic->start_time != AV_NOPTS_VALUE ? j.ic->start_time : 0;
    j.duration_us = j.ic->duration != AV_NOPTS_VALUE ? j.ic->duration : 0;
    rc = select_streams(&j);
    if (rc)
        goto out;
    created = 1;
    rc = open_output(&j);
    if (rc)
        goto out;
    rc = transcode(&j);
out:
    job_free(&j);
    if (rc != CCT_OK && created)
        unlink(r->out_path);
    return rc;
}
