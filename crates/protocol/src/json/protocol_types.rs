//! [`FromJson`] and [`ToJson`] for the protocol's types, each mirroring its derive.

use super::{FromJson, Json, JsonError, ObjectWriter, ToJson};
use crate::{
    ArchiveRequest, CloseResponse, ConversionOptions, ConvertRequest, ConvertResponse,
    CsrfTokenResponse, DownloadTokenRequest, DownloadTokenResponse, ErrorType, Format, FormatGroup,
    HealthReport, JobListResponse, JobStatus, JobStatusResponse, ServiceHealth, SessionInfo,
    UploadResponse,
};

/// Reads a string and looks it up with `find`; `expected` names the set in errors.
fn named<T>(
    value: Json,
    expected: &'static str,
    find: impl FnOnce(&str) -> Option<T>,
) -> Result<T, JsonError> {
    value
        .as_str()
        .and_then(find)
        .ok_or(JsonError::expected(expected))
}

impl FromJson for Format {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        // The wire name or an alias, exactly (as the derive's `rename_all`/`alias`).
        named(value, "a format name", |name| {
            Format::ALL
                .into_iter()
                .find(|format| format.name() == name || format.aliases().contains(&name))
        })
    }
}

impl ToJson for Format {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

impl FromJson for JobStatus {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        named(value, "a job status", JobStatus::parse)
    }
}

impl FromJson for ErrorType {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        named(value, "an error type", ErrorType::parse)
    }
}

impl FromJson for SessionInfo {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            id: fields.field("id")?,
            csrf_token: fields.field("csrf_token")?,
            expires_at: fields.field("expires_at")?,
            expires_in: fields.field("expires_in")?,
        })
    }
}

impl FromJson for CsrfTokenResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            csrf_token: fields.field("csrf_token")?,
            expires_at: fields.field("expires_at")?,
            expires_in: fields.field("expires_in")?,
        })
    }
}

impl FromJson for CloseResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            message: fields.field("message")?,
        })
    }
}

impl FromJson for HealthReport {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            status: fields.field("status")?,
            version: fields.field("version")?,
            services: fields.field("services")?,
            timestamp: fields.field("timestamp")?,
        })
    }
}

impl FromJson for ServiceHealth {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            status: fields.field("status")?,
            latency_ms: fields.field("latency_ms")?,
        })
    }
}

impl FromJson for FormatGroup {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            id: fields.field("id")?,
            name: fields.field("name")?,
            description: fields.field("description")?,
            input_formats: fields.field("inputFormats")?,
            output_formats: fields.field("outputFormats")?,
            max_size: fields.field("maxSize")?,
            features: fields.field("features")?,
        })
    }
}

impl FromJson for UploadResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            job_id: fields.field("job_id")?,
            status: fields.field("status")?,
        })
    }
}

impl FromJson for ConvertResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            job_id: fields.field("job_id")?,
            task_id: fields.field("task_id")?,
            status: fields.field("status")?,
        })
    }
}

impl FromJson for ConversionOptions {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        // Absent: no options (`#[serde(default)]` where it is a member).
        if value == Json::Null {
            return Ok(Self::default());
        }
        let mut fields = value.into_object()?;
        let options = Self {
            quality: fields.field("quality")?,
            lossless: fields.field("lossless")?,
            max_width: fields.field("max_width")?,
            max_height: fields.field("max_height")?,
            pages: fields.field("pages")?,
            keep_metadata: fields.field("keep_metadata")?,
        };
        fields.deny_unknown()?;
        Ok(options)
    }
}

impl ToJson for ConversionOptions {
    fn write_json(&self, out: &mut String) {
        ObjectWriter::new(out)
            .optional("quality", self.quality.as_ref())
            .optional("lossless", self.lossless.as_ref())
            .optional("max_width", self.max_width.as_ref())
            .optional("max_height", self.max_height.as_ref())
            .optional("pages", self.pages.as_ref())
            .optional("keep_metadata", self.keep_metadata.as_ref())
            .end();
    }
}

impl FromJson for JobStatusResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            job_id: fields.field("job_id")?,
            status: fields.field("status")?,
            created_at: fields.field("created_at")?,
            updated_at: fields.field("updated_at")?,
            original_filename: fields.field("original_filename")?,
            source_format: fields.field("source_format")?,
            target_format: fields.field("target_format")?,
            options: fields.field("options")?,
            file_size: fields.field("file_size")?,
            output_size: fields.field("output_size")?,
            output_format: fields.field("output_format")?,
            progress: fields.field("progress")?,
            error: fields.field("error")?,
            error_message: fields.field("error_message")?,
            completed_at: fields.field("completed_at")?,
            conversion_time: fields.field("conversion_time")?,
        })
    }
}

impl FromJson for JobListResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            jobs: fields.field("jobs")?,
        })
    }
}

impl FromJson for DownloadTokenResponse {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut fields = value.into_object()?;
        Ok(Self {
            download_token: fields.field("download_token")?,
            expires_at: fields.field("expires_at")?,
        })
    }
}

impl ToJson for ConvertRequest {
    fn write_json(&self, out: &mut String) {
        let options = (!self.options.is_empty()).then_some(&self.options);
        ObjectWriter::new(out)
            .member("job_id", &self.job_id)
            .member("target_format", &self.target_format)
            .optional("source_format", self.source_format.as_ref())
            .optional("options", options)
            .end();
    }
}

impl ToJson for DownloadTokenRequest {
    fn write_json(&self, out: &mut String) {
        ObjectWriter::new(out).member("job_id", &self.job_id).end();
    }
}

impl ToJson for ArchiveRequest {
    fn write_json(&self, out: &mut String) {
        ObjectWriter::new(out)
            .member("job_ids", &self.job_ids)
            .end();
    }
}
