//! Image PDFs: one page the size of the image (text PDFs are in `text_pdf`).

use image::DynamicImage;
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, ObjectId, Stream};

use crate::{Budget, BudgetWriter, ConversionError};

/// An image PDF, built with lopdf (one page: the document is held until it is written).
struct PdfBuilder {
    document: Document,
    pages_id: ObjectId,
    pages: Vec<Object>,
}

impl PdfBuilder {
    fn new() -> Self {
        let mut document = Document::with_version("1.5");
        let pages_id = document.new_object_id();
        Self {
            document,
            pages_id,
            pages: Vec::new(),
        }
    }

    fn add_page(
        &mut self,
        size: (f32, f32),
        resources: lopdf::Dictionary,
        operations: Vec<Operation>,
    ) -> Result<(), ConversionError> {
        let content = Content { operations }
            .encode()
            .map_err(|e| ConversionError::Failed(format!("pdf content: {e}")))?;
        let content_id = self
            .document
            .add_object(Stream::new(dictionary! {}, content));
        let page_id = self.document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => self.pages_id,
            "MediaBox" => vec![0.into(), 0.into(), size.0.into(), size.1.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        self.pages.push(page_id.into());
        Ok(())
    }

    fn finish(
        mut self,
        budget: &Budget,
        out: &mut BudgetWriter<'_>,
    ) -> Result<(), ConversionError> {
        let count = self.pages.len() as i64;
        self.document.objects.insert(
            self.pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => self.pages, "Count" => count },
            ),
        );
        let catalog_id = self
            .document
            .add_object(dictionary! { "Type" => "Catalog", "Pages" => self.pages_id });
        self.document.trailer.set("Root", catalog_id);
        self.document.compress();
        budget.check_time()?;
        self.document
            .save_to(out)
            .map(drop)
            .map_err(|e| ConversionError::Failed(format!("writing pdf: {e}")))
    }
}

/// One page exactly the size of the image (1 px = 1 pt), the image filling it.
pub fn from_image(
    image: &DynamicImage,
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let rgb = image.to_rgb8();
    let (width, height) = rgb.dimensions();
    let mut builder = PdfBuilder::new();
    let image_stream = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => width as i64,
            "Height" => height as i64,
            "ColorSpace" => "DeviceRGB",
            "BitsPerComponent" => 8,
        },
        rgb.into_raw(),
    );
    let image_id = builder.document.add_object(image_stream);
    let resources = dictionary! { "XObject" => dictionary! { "Im1" => image_id } };
    let (w, h) = (width as f32, height as f32);
    let operations = vec![
        Operation::new("q", vec![]),
        Operation::new(
            "cm",
            vec![w.into(), 0.into(), 0.into(), h.into(), 0.into(), 0.into()],
        ),
        Operation::new("Do", vec!["Im1".into()]),
        Operation::new("Q", vec![]),
    ];
    builder.add_page((w, h), resources, operations)?;
    builder.finish(budget, out)
}
