/* conv_av.h - internals of the audio/video engine shared by conv_av*.c: the target table
 * (muxer and encoders per format), the quality presets, one decode -> filter -> encode pipe
 * per stream we keep, and the job that ties input, output and pipes together. */
#ifndef CCT_CONV_AV_H
#define CCT_CONV_AV_H

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <stdint.h>

#include "domain/convert/conv.h"

enum {
    AVT_FASTSTART = 1 << 0, /* moov atom moved to the front (mp4, mov, m4a) */
    AVT_STD_FPS = 1 << 1,   /* only the encoder's standard frame rates (mpeg) */
    AVT_GIF = 1 << 2,       /* palette-based animated gif */
};

/* What a target format is written as. */
struct av_target {
    const char *name;   /* formats.h name */
    const char *muxer;  /* libavformat muxer */
    const char *vcodec; /* video encoder, NULL for audio-only targets */
    const char *acodec; /* audio encoder, NULL when the target holds no sound */
    int64_t abitrate;   /* default audio bit rate (0 = the codec's own, or lossless) */
    int vorbis_q;       /* libvorbis quality when no preset is given */
    int max_rate;       /* highest sample rate the codec takes (0 = its list or any) */
    int max_channels;   /* downmix above this */
    int flags;
};

/* The knobs a preset turns. */
struct av_quality {
    const char *name;
    int x264_crf;
    int vp9_crf;
    int qscale;             /* mpeg4 / mpeg2video / wmv2 fixed quantiser */
    int64_t abitrate;       /* audio rate for lossy targets (0 = the target's default) */
    int64_t video_abitrate; /* audio rate inside a video */
    int max_w, max_h;       /* landscape box the picture must fit in (0 = no limit) */
};

/* One kept input stream: decoder, filter graph and encoder. */
struct av_pipe {
    enum AVMediaType type;
    int in_index;
    AVStream *ist;
    AVCodecContext *dec;
    AVCodecContext *enc;
    AVStream *ost;
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    /* the frame parameters the graph was built for (rebuilt when frames change) */
    int in_w, in_h, in_fmt, in_rate;
    AVRational in_sar;
    AVChannelLayout in_layout;
    /* video output decisions */
    int out_w, out_h, out_fmt;
    AVRational fps;
    int force_fps;
    int rotation; /* 0, 90, 180, 270 clockwise */
    /* timestamps */
    int64_t next_pts;
    int64_t last_pts;
    int64_t last_dts;
    int64_t frames_in;
    int64_t frames_out;
    int dec_eof;
};

struct av_job {
    const struct conv_request *r;
    const struct av_target *t;
    const struct av_quality *q;
    struct cct_error *err;
    AVFormatContext *ic, *oc;
    struct av_pipe pipes[2];
    int npipes;
    AVFrame *frame, *filt;
    AVPacket *pkt, *opkt;
    int64_t start_us;    /* input start time, subtracted from every timestamp */
    int64_t duration_us; /* for progress; 0 when unknown */
    int last_percent;
    int64_t decode_errors;
    int header_written;
    cct_err failed; /* set when a step already filled err */
};

/* conv_av_enc.c */
const struct av_target *conv_av_target(const char *name);
const struct av_quality *conv_av_quality(const char *preset);
/* Decides output size / pixel format / rate and opens the video encoder for p. */
int conv_av_open_video_encoder(struct av_job *j, struct av_pipe *p);
/* Decides sample format / rate / layout and opens the audio encoder for p. */
int conv_av_open_audio_encoder(struct av_job *j, struct av_pipe *p);

/* conv_av_filter.c: (re)builds p's graph for the input parameters stored in p->in_*. */
int conv_av_build_filter(struct av_job *j, struct av_pipe *p);

/* conv_av.c: routes libav's log to ours, quietly (once per process). */
void conv_av_log_setup(void);
/* conv_av.c: sets j->err from an AVERROR with what we were doing; returns the cct code. */
cct_err conv_av_fail(struct av_job *j, int averr, const char *doing);

#endif
