//! Derive macros for [mproc](https://docs.rs/mproc)'s marker traits, so a
//! program declares what may cross between processes without writing
//! `unsafe impl`:
//!
//! - `#[derive(Shareable)]`: plain data that may live in shared memory (and
//!   travel as a `Queue` item or a `Pipe` value). The derive refuses at
//!   compile time what would be unsound, naming the field and why.
//! - `#[derive(Item)]`: a value copied through a `Queue` or a `Pipe` and
//!   checked on the way out, so its fields may be `bool`, `char`, `Option`s
//!   and tuples; or an enum without fields.
//! - `#[derive(TaskData)]`: a `Pool` task's argument or result, copied by
//!   its bytes into a process forked from the same binary.
//! - `#[derive(Wire)]`: the manager's canonical little-endian encoding,
//!   field after field, with a validating decode.
//!
//! Use them through `mproc` (feature `derive`, on by default), which
//! re-exports each beside the trait of the same name:
//! `use mproc::shm::Shareable;` brings both the trait and the derive.
//!
//! The generated code names the traits by their paths in `mproc`
//! (`::mproc::shm::Shareable`, `::mproc::pool::TaskData`,
//! `::mproc::manager::Wire`), so the crate using the derives must depend on
//! `mproc` under that name.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Fields, GenericParam, Generics, LitStr, Type, parse_macro_input,
    parse_quote,
};

/// Implements `mproc::shm::Shareable` for a `#[repr(C)]` (or
/// `#[repr(transparent)]`) struct, after checking at compile time that
/// every field is itself `Shareable`, that the struct has no padding, no
/// drop glue, and no field whose layout differs between 32- and 64-bit
/// targets (`usize`, `isize`, pointers), nor a reference, `bool` or `char`
/// (bit patterns that are not values).
///
/// `#[mproc(type_identity = "name")]` on the struct overrides the name
/// hashed into the layout fingerprint of named segments.
#[proc_macro_derive(Shareable, attributes(mproc))]
pub fn derive_shareable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    shareable(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `mproc::pool::TaskData` for a struct or enum, after checking
/// at compile time that every field is itself `TaskData` (so no pointer,
/// reference or per-process handle) and that the type has no `Drop` impl
/// of its own. Type parameters get a `TaskData` bound.
#[proc_macro_derive(TaskData, attributes(mproc))]
pub fn derive_task_data(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    task_data(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `mproc::manager::Wire`: a struct's fields encoded one after
/// another; an enum as a tag byte (the variant's position, from 0) then the
/// variant's fields, zeros up to the largest variant. Decoding checks the
/// length, the tag and every field, and that unused bytes are zero (one
/// value, one encoding). Type parameters get a `Wire` bound.
///
/// `#[mproc(type_identity = "name")]` on the type overrides the name hashed
/// into the server's type check.
#[proc_macro_derive(Wire, attributes(mproc))]
pub fn derive_wire(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    wire(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `mproc::shm::Item` — a value copied through a `Queue` or a
/// `Pipe` and checked on the way out — for a struct whose fields are items
/// (`bool`, `char`, `Option`s, tuples, `Shareable` types…: stored one
/// after another in nested `Packed`s, no padding, each field checked when
/// read back), or for an enum whose variants have no fields (stored as the
/// variant's position in one byte; another byte is no value). Type
/// parameters get an `Item` bound. A `Shareable + Copy` type is an `Item`
/// already: derive this for what `Shareable` refuses.
#[proc_macro_derive(Item)]
pub fn derive_item(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    item::item(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

mod item;

/// Errors gathered over all fields, so one build reports all of them.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// An error at each field of `name` whose type `target` refuses,
    /// saying which field and why.
    fn refuse_fields(&mut self, fields: &[Field<'_>], target: Target, name: &syn::Ident) {
        for f in fields {
            if let Some(why) = refused(f.ty, target) {
                self.push(syn::Error::new(
                    f.ty.span(),
                    format!("field `{}` of `{name}` {why}", f.label),
                ));
            }
        }
    }
}

/// `#[mproc(type_identity = "...")]`, if given.
fn type_identity(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("mproc")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("type_identity") {
                found = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else {
                Err(meta
                    .error("unknown mproc attribute: the one known is `type_identity = \"...\"`"))
            }
        })?;
    }
    Ok(found)
}

fn identity_fn(attrs: &[Attribute]) -> syn::Result<TokenStream2> {
    Ok(match type_identity(attrs)? {
        Some(name) => quote! {
            fn type_identity() -> &'static str {
                #name
            }
        },
        None => TokenStream2::new(),
    })
}

/// One field: what to call it in messages, its type.
struct Field<'a> {
    label: String,
    ty: &'a Type,
}

fn fields_of(fields: &Fields) -> Vec<Field<'_>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| match &f.ident {
            Some(id) => Field {
                label: id.unraw().to_string(),
                ty: &f.ty,
            },
            None => Field {
                label: i.to_string(),
                ty: &f.ty,
            },
        })
        .collect()
}

/// A type spelled by a single identifier (`usize`, `String`…), generics
/// aside: the last path segment.
fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Shareable,
    TaskData,
}

/// Why a field's type, as spelled, can never be what `target` asks; `None`
/// when the spelling alone doesn't tell (the trait bound checks it then).
fn refused(ty: &Type, target: Target) -> Option<String> {
    let pointer = "memory of one process means nothing in another, whose address space differs";
    match ty {
        Type::Paren(p) => refused(&p.elem, target),
        Type::Group(g) => refused(&g.elem, target),
        Type::Array(a) => refused(&a.elem, target),
        Type::Ptr(_) => Some(format!(
            "is a raw pointer: {pointer}{}; store an offset or an index instead",
            if target == Target::Shareable {
                ", and its size differs between 32- and 64-bit targets"
            } else {
                ""
            }
        )),
        Type::Reference(_) => Some(format!(
            "is a reference: {pointer}; own the data instead (a fixed-size array, or `FixedStr<N>` for text)"
        )),
        Type::BareFn(_) => Some(format!("is a function pointer: an address, and {pointer}")),
        Type::Slice(_) | Type::TraitObject(_) | Type::ImplTrait(_) => {
            Some("is not sized: every shared value has one fixed size".into())
        }
        Type::Tuple(t) if target == Target::Shareable && !t.elems.is_empty() => Some(
            "is a tuple: tuples have no fixed layout (the compiler orders and pads their \
             elements) so they are not `Shareable`; use a `#[repr(C)]` struct of its elements \
             (or, for a struct only copied through a `Queue` or a `Pipe`, `#[derive(Item)]`)"
                .into(),
        ),
        _ => {
            let id = last_ident(ty)?;
            match (id.as_str(), target) {
                ("usize" | "isize", Target::Shareable) => Some(format!(
                    "is `{id}`: 4 bytes on 32-bit targets and 8 on 64-bit ones, so the layout \
                     would differ between builds that share memory; use `u32`/`u64` (`i32`/`i64`)"
                )),
                ("bool", Target::Shareable) => Some(
                    "is `bool`: only 0 and 1 are valid, and memory written by another process \
                     is read without a check; use `u8` (0 or 1) and compare with `!= 0` (or, for \
                     a struct only copied through a `Queue` or a `Pipe`, `#[derive(Item)]`)"
                        .into(),
                ),
                ("char", Target::Shareable) => Some(
                    "is `char`: not every `u32` is a valid `char`, and memory written by another \
                     process is read without a check; use `u32` and `char::from_u32` (or, for a \
                     struct only copied through a `Queue` or a `Pipe`, `#[derive(Item)]`)"
                        .into(),
                ),
                ("Option" | "Result", Target::Shareable) => Some(format!(
                    "is an `{id}`: its discriminant has invalid bit patterns and its layout is the \
                     compiler's choice; use a flag field (`u8`) beside the value (or, for a struct \
                     only copied through a `Queue` or a `Pipe`, `#[derive(Item)]`)"
                )),
                ("String" | "Vec" | "Box" | "Rc" | "Arc" | "HashMap" | "BTreeMap", _) => {
                    Some(format!(
                        "is a `{id}`: it owns heap memory through a pointer, and {pointer}; use a \
                         fixed-size type (`FixedStr<N>`, an array{}) or the serde route",
                        if target == Target::TaskData {
                            ", `heapless::String`/`Vec`"
                        } else {
                            ""
                        }
                    ))
                }
                ("File" | "OwnedFd" | "RawFd" | "TcpStream" | "UnixStream" | "TcpListener", _) => {
                    Some(format!(
                        "is a `{id}`: a file descriptor is a number that means something only in the \
                         process that opened it"
                    ))
                }
                _ => None,
            }
        }
    }
}

/// The `repr` of a struct: `#[repr(C)]` or `#[repr(transparent)]` is
/// required (an alignment is allowed, its trailing padding is caught by the
/// padding check), `packed` refused.
fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut fixed = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                fixed = true;
                Ok(())
            } else if meta.path.is_ident("align") {
                let content;
                syn::parenthesized!(content in meta.input);
                content.parse::<syn::LitInt>()?;
                Ok(())
            } else if meta.path.is_ident("packed") {
                Err(meta.error(
                    "a `Shareable` struct may not be `packed`: its fields, atomics included, \
                     would be unaligned, and references to them undefined behaviour",
                ))
            } else {
                Err(meta.error("a `Shareable` struct is `#[repr(C)]` or `#[repr(transparent)]`"))
            }
        })?;
    }
    if fixed {
        Ok(())
    } else {
        Err(syn::Error::new(
            input.ident.span(),
            format!(
                "`{}` needs `#[repr(C)]` (or `#[repr(transparent)]`) to derive `Shareable`: \
                 without it the compiler chooses the order of the fields, and two builds \
                 sharing memory could disagree on it",
                input.ident
            ),
        ))
    }
}

fn shareable(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "`#[derive(Shareable)]` takes no generic parameters: padding and drop glue are \
             checked on one concrete layout (name each instance with a type alias of a \
             concrete struct, or write the `unsafe impl` by hand with its contract checked)",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => fields_of(&s.fields),
        Data::Enum(_) => {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "an enum can't be `Shareable`: memory written by another process could hold a \
                     discriminant that is no variant, and it is read without a check; store the \
                     variant as an integer field (`u8`/`u32`) of a `#[repr(C)]` struct, or derive \
                     `TaskData` (pool tasks) or `Wire` (manager values) for `{name}`"
                ),
            ));
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                name.span(),
                "a union can't derive `Shareable`: write a `#[repr(C)]` struct of bytes and \
                 reinterpret them explicitly",
            ));
        }
    };
    let mut errors = Errors::default();
    if let Err(e) = check_repr(input) {
        errors.push(e);
    }
    errors.refuse_fields(&fields, Target::Shareable, name);
    errors.finish()?;

    let trait_path = quote!(::mproc::shm::Shareable);
    let field_checks = fields.iter().map(|f| {
        let check = format_ident!("field_{}_of_{}_must_be_shareable", f.label, name);
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            #[allow(non_snake_case)]
            fn #check<T: #trait_path>() {}
            #check::<#ty>();
        }
    });
    let sizes = fields.iter().map(|f| {
        let ty = f.ty;
        quote!(::core::mem::size_of::<#ty>())
    });
    let padding = LitStr::new(
        &format!(
            "`{name}` has padding (its size is more than the sum of its fields' sizes): padding \
             bytes are never written, so they could carry stale bytes of one process into \
             another, and their place is the compiler's choice; order the fields from the \
             largest alignment down, or fill the gaps with explicit `[u8; N]` fields"
        ),
        Span::call_site(),
    );
    let drop_glue = LitStr::new(
        &format!(
            "`{name}` has drop glue (a `Drop` impl): a value in shared memory is never dropped \
             by the process that leaves it, and it is read by processes that did not make it; \
             remove the `Drop` impl"
        ),
        Span::call_site(),
    );
    let identity = identity_fn(&input.attrs)?;
    Ok(quote! {
        const _: fn() = || {
            #(#field_checks)*
        };
        const _: () = ::core::assert!(
            ::core::mem::size_of::<#name>() == 0 #(+ #sizes)*,
            #padding
        );
        const _: () = ::core::assert!(!::core::mem::needs_drop::<#name>(), #drop_glue);
        // SAFETY: checked above at compile time: `#[repr(C)]` or
        // `#[repr(transparent)]`, every field `Shareable` (fixed width, no
        // pointers, every bit pattern valid), no padding, no drop glue.
        unsafe impl #trait_path for #name {
            #identity
        }
    })
}

/// The type's generics with `bound` added to each type parameter;
/// lifetimes refused when `no_lifetimes` names the trait that forbids them.
fn bounded(
    generics: &Generics,
    bound: TokenStream2,
    no_lifetimes: Option<&str>,
) -> syn::Result<Generics> {
    let mut g = generics.clone();
    for p in &mut g.params {
        match p {
            GenericParam::Type(t) => t.bounds.push(parse_quote!(#bound)),
            GenericParam::Lifetime(l) => {
                if let Some(tr) = no_lifetimes {
                    return Err(syn::Error::new(
                        l.span(),
                        format!(
                            "a `{tr}` type owns its data ('static): it can't borrow, and a lifetime parameter would be a reference"
                        ),
                    ));
                }
            }
            GenericParam::Const(_) => {}
        }
    }
    Ok(g)
}

fn task_data(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let trait_path = quote!(::mproc::pool::TaskData);
    let generics = bounded(&input.generics, trait_path.clone(), Some("TaskData"))?;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let fields: Vec<Field<'_>> = match &input.data {
        Data::Struct(s) => fields_of(&s.fields),
        Data::Enum(e) => e
            .variants
            .iter()
            .flat_map(|v| {
                fields_of(&v.fields).into_iter().map(move |mut f| {
                    f.label = format!("{}::{}", v.ident, f.label);
                    f
                })
            })
            .collect(),
        Data::Union(_) => {
            return Err(syn::Error::new(
                name.span(),
                "a union can't derive `TaskData`: use a struct or an enum",
            ));
        }
    };
    let mut errors = Errors::default();
    errors.refuse_fields(&fields, Target::TaskData, name);
    errors.finish()?;
    let field_checks = fields.iter().map(|f| {
        let check = format_ident!(
            "field_{}_of_{}_must_be_task_data",
            f.label.replace("::", "_"),
            name
        );
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            #[allow(non_snake_case)]
            fn #check<T: #trait_path>() {}
            #check::<#ty>();
        }
    });
    let no_drop = format_ident!("{}_is_TaskData_so_may_not_implement_Drop", name);
    Ok(quote! {
        const _: () = {
            #[allow(dead_code)]
            fn fields #impl_generics () #where_clause {
                #(#field_checks)*
            }
            // A `Drop` impl of the type's own makes these two impls overlap:
            // a value moved into a worker that is killed is never dropped,
            // and one moved out is dropped by whoever receives it, so its
            // drop may not release anything outside its own bytes.
            #[allow(non_camel_case_types)]
            trait #no_drop {}
            #[allow(drop_bounds, clippy::drop_bounds)]
            impl<T: ::core::ops::Drop> #no_drop for T {}
            impl #impl_generics #no_drop for #name #ty_generics #where_clause {}
        };
        // SAFETY: checked above at compile time: every field is `TaskData`
        // (no pointer, reference or per-process handle), and the type has no
        // `Drop` impl of its own.
        unsafe impl #impl_generics #trait_path for #name #ty_generics #where_clause {}
    })
}

/// The encoding of one list of fields (a struct's, a variant's), starting
/// at byte `start`: statements encoding each binding into `out`, statements
/// decoding each from `bytes` into the bindings, and the sum of sizes.
struct WireFields {
    encode: TokenStream2,
    decode: TokenStream2,
    size: TokenStream2,
}

fn wire_fields(fields: &[Field<'_>], bindings: &[syn::Ident], start: usize) -> WireFields {
    let w = quote!(::mproc::manager::Wire);
    let tys: Vec<&Type> = fields.iter().map(|f| f.ty).collect();
    WireFields {
        encode: quote! {
            let mut at: usize = #start;
            #(
                <#tys as #w>::encode(#bindings, &mut out[at..at + <#tys as #w>::SIZE]);
                at += <#tys as #w>::SIZE;
            )*
            let _ = at;
        },
        decode: quote! {
            let mut at: usize = #start;
            #(
                let #bindings = <#tys as #w>::decode(&bytes[at..at + <#tys as #w>::SIZE])?;
                at += <#tys as #w>::SIZE;
            )*
        },
        size: quote!(0usize #(+ <#tys as #w>::SIZE)*),
    }
}

fn bindings(n: usize) -> Vec<syn::Ident> {
    (0..n).map(|i| format_ident!("__field{}", i)).collect()
}

/// `Self { a: b0, .. }`, `Self(b0, ..)` or `Self`, for a struct or a
/// variant (`path` is `Self` or `Self::Variant`).
fn construct(path: TokenStream2, fields: &Fields, bindings: &[syn::Ident]) -> TokenStream2 {
    match fields {
        Fields::Named(_) => {
            let names = fields.iter().map(|f| f.ident.as_ref());
            quote!(#path { #(#names: #bindings),* })
        }
        Fields::Unnamed(_) => quote!(#path(#(#bindings),*)),
        Fields::Unit => path,
    }
}

fn wire(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let w = quote!(::mproc::manager::Wire);
    let generics = bounded(&input.generics, w.clone(), None)?;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let identity = identity_fn(&input.attrs)?;
    let (size, encode, decode) = match &input.data {
        Data::Struct(s) => {
            let fields = fields_of(&s.fields);
            let b = bindings(fields.len());
            let wf = wire_fields(&fields, &b, 0);
            let pattern = construct(quote!(Self), &s.fields, &b);
            let (enc, dec, size) = (wf.encode, wf.decode, wf.size);
            (
                size,
                quote! {
                    let #pattern = self;
                    #enc
                },
                quote! {
                    #dec
                    let _ = at;
                    ::core::option::Option::Some(#pattern)
                },
            )
        }
        Data::Enum(e) => {
            if e.variants.len() > 256 {
                return Err(syn::Error::new(
                    name.span(),
                    "`#[derive(Wire)]` encodes the variant in one byte: at most 256 variants",
                ));
            }
            let mut sizes = Vec::new();
            let mut enc_arms = Vec::new();
            let mut dec_arms = Vec::new();
            for (i, v) in e.variants.iter().enumerate() {
                let tag = i as u8;
                let fields = fields_of(&v.fields);
                let b = bindings(fields.len());
                let wf = wire_fields(&fields, &b, 1);
                let vid = &v.ident;
                let pattern = construct(quote!(Self::#vid), &v.fields, &b);
                let (enc, dec) = (wf.encode, wf.decode);
                sizes.push(wf.size);
                enc_arms.push(quote! {
                    #pattern => {
                        out[0] = #tag;
                        #enc
                    }
                });
                dec_arms.push(quote! {
                    #tag => {
                        #dec
                        if !bytes[at..].iter().all(|&b| b == 0) {
                            return ::core::option::Option::None;
                        }
                        ::core::option::Option::Some(#pattern)
                    }
                });
            }
            let n = sizes.len();
            (
                quote! {
                    1 + {
                        let sizes: [usize; #n] = [#(#sizes),*];
                        let mut max = 0;
                        let mut i = 0;
                        while i < #n {
                            if sizes[i] > max {
                                max = sizes[i];
                            }
                            i += 1;
                        }
                        max
                    }
                },
                quote! {
                    out.fill(0);
                    match self {
                        #(#enc_arms)*
                    }
                },
                quote! {
                    match bytes[0] {
                        #(#dec_arms)*
                        _ => ::core::option::Option::None,
                    }
                },
            )
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                name.span(),
                "a union can't derive `Wire`: which field is live is not in its bytes",
            ));
        }
    };
    Ok(quote! {
        impl #impl_generics #w for #name #ty_generics #where_clause {
            const SIZE: usize = #size;

            #[allow(unused_variables, unused_mut, clippy::all)]
            fn encode(&self, out: &mut [u8]) {
                #encode
            }

            #[allow(unused_variables, unused_mut, unused_assignments, clippy::all)]
            fn decode(bytes: &[u8]) -> ::core::option::Option<Self> {
                if bytes.len() != <Self as #w>::SIZE {
                    return ::core::option::Option::None;
                }
                #decode
            }

            #identity
        }
    })
}
