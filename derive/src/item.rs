//! `#[derive(Item)]`: a struct's fields stored one after another in nested
//! `Packed`s, each checked on the way out; a fieldless enum stored as its
//! variant's position in one byte.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Type};

use crate::{Field, Target, bindings, bounded, construct, fields_of};

/// The stored form of `tys`, one after another: `()`'s for none (one
/// byte, so a message is never empty), the field's own for one, nested
/// `Packed`s for more.
fn repr_of(tys: &[&Type]) -> TokenStream2 {
    let item = quote!(::mproc::shm::Item);
    match tys {
        [] => quote!(<() as #item>::Repr),
        [last] => quote!(<#last as #item>::Repr),
        [first, rest @ ..] => {
            let rest = repr_of(rest);
            quote!(::mproc::shm::Packed<<#first as #item>::Repr, #rest>)
        }
    }
}

/// The stored form of the bound fields (`bindings`, references to values
/// of `tys`).
fn pack(tys: &[&Type], bindings: &[syn::Ident]) -> TokenStream2 {
    let item = quote!(::mproc::shm::Item);
    match (tys, bindings) {
        ([], _) | (_, []) => quote!(<() as #item>::to_repr(&())),
        ([last], [b]) => quote!(<#last as #item>::to_repr(#b)),
        ([first, rest_t @ ..], [b, rest_b @ ..]) => {
            let rest = pack(rest_t, rest_b);
            quote!(::mproc::shm::Packed::new(<#first as #item>::to_repr(#b), #rest))
        }
    }
}

/// Statements binding each field's value from `repr`, returning `None` from
/// the function for one that holds no value.
fn unpack(repr: TokenStream2, tys: &[&Type], bindings: &[syn::Ident]) -> TokenStream2 {
    let item = quote!(::mproc::shm::Item);
    match (tys, bindings) {
        ([], _) | (_, []) => quote! {
            <() as #item>::from_repr(#repr)?;
        },
        ([last], [b]) => quote! {
            let #b = <#last as #item>::from_repr(#repr)?;
        },
        ([first, rest_t @ ..], [b, rest_b @ ..]) => {
            let rest = unpack(quote!(__tail), rest_t, rest_b);
            quote! {
                let (__head, __tail) = #repr.into_parts();
                let #b = <#first as #item>::from_repr(__head)?;
                #rest
            }
        }
    }
}

pub(crate) fn item(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let item = quote!(::mproc::shm::Item);
    let generics = bounded(&input.generics, item.clone(), Some("Item"))?;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut field_checks = TokenStream2::new();
    let (repr, to_repr, from_repr) = match &input.data {
        Data::Struct(s) => {
            let fields: Vec<Field<'_>> = fields_of(&s.fields);
            let mut errors = crate::Errors::default();
            // What can never be an item, named at the field (`bool`,
            // `char`, `Option` and tuples are items; the rest of the
            // TaskData refusals — pointers, references, heap owners,
            // descriptors — hold here too).
            errors.refuse_fields(&fields, Target::TaskData, name);
            errors.finish()?;
            // Each field an item, the error at the field.
            let checks = fields.iter().map(|f| {
                let check = format_ident!("field_{}_of_{}_must_be_an_item", f.label, name);
                let ty = f.ty;
                quote_spanned! {ty.span()=>
                    #[allow(non_snake_case)]
                    fn #check<T: #item>() {}
                    #check::<#ty>();
                }
            });
            field_checks = quote! {
                const _: () = {
                    #[allow(dead_code)]
                    fn fields #impl_generics () #where_clause {
                        #(#checks)*
                    }
                };
            };
            let tys: Vec<&Type> = fields.iter().map(|f| f.ty).collect();
            let b = bindings(fields.len());
            let pattern = construct(quote!(Self), &s.fields, &b);
            let packed = pack(&tys, &b);
            let unpacked = unpack(quote!(repr), &tys, &b);
            (
                repr_of(&tys),
                quote! {
                    let #pattern = self;
                    #packed
                },
                quote! {
                    #unpacked
                    ::core::option::Option::Some(#pattern)
                },
            )
        }
        Data::Enum(e) => {
            if let Some(v) = e
                .variants
                .iter()
                .find(|v| !matches!(v.fields, Fields::Unit))
            {
                return Err(syn::Error::new(
                    v.span(),
                    format!(
                        "`#[derive(Item)]` takes an enum whose variants have no fields (stored as \
                         the variant's position in one byte); `{name}::{}` has some: implement \
                         `mproc::shm::Item` by hand, or take the manager's `Wire` or the serde route",
                        v.ident
                    ),
                ));
            }
            if e.variants.is_empty() || e.variants.len() > 256 {
                return Err(syn::Error::new(
                    name.span(),
                    "`#[derive(Item)]` stores the variant in one byte: 1 to 256 variants",
                ));
            }
            let vids: Vec<&syn::Ident> = e.variants.iter().map(|v| &v.ident).collect();
            let tags: Vec<u8> = (0..vids.len()).map(|i| i as u8).collect();
            (
                quote!(u8),
                quote! {
                    match self {
                        #(Self::#vids => #tags,)*
                    }
                },
                quote! {
                    match repr {
                        #(#tags => ::core::option::Option::Some(Self::#vids),)*
                        _ => ::core::option::Option::None,
                    }
                },
            )
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                name.span(),
                "a union can't derive `Item`: which field is live is not in its bytes",
            ));
        }
    };
    Ok(quote! {
        #field_checks
        impl #impl_generics #item for #name #ty_generics #where_clause {
            type Repr = #repr;

            #[allow(unused_variables, clippy::all)]
            fn to_repr(&self) -> <Self as #item>::Repr {
                #to_repr
            }

            #[allow(unused_variables, clippy::all)]
            fn from_repr(repr: <Self as #item>::Repr) -> ::core::option::Option<Self> {
                #from_repr
            }
        }
    })
}
